using System.Text.Json.Nodes;

namespace KarteMarketo.Grains.Flows.MarketoActivities;

/// <summary>Webhook events of the embedded default (one process, nothing persists).</summary>
public sealed class InMemoryWebhookEventStore : IWebhookEventStore
{
    private readonly Lock _gate = new();
    /// <summary>By id, which grows with arrival (like the bigserial of PostgreSQL): iterating in key order is arrival order.</summary>
    private readonly SortedDictionary<long, NewWebhookEvent> _events = [];
    private readonly Dictionary<(string Project, string Key), long> _byDedupeKey = [];
    private long _nextId;

    public Task<WebhookRecordResult> RecordAsync(NewWebhookEvent newEvent, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (newEvent.DedupeKey is not null && _byDedupeKey.TryGetValue((newEvent.ProjectId, newEvent.DedupeKey), out var existing))
                return Task.FromResult(new WebhookRecordResult(false, existing, _events[existing].UserIds));
            var stored = newEvent with { Values = (JsonObject)newEvent.Values.DeepClone(), UserIds = [.. newEvent.UserIds] };
            var id = ++_nextId;
            _events[id] = stored;
            if (newEvent.DedupeKey is not null) _byDedupeKey[(newEvent.ProjectId, newEvent.DedupeKey)] = id;
            return Task.FromResult(new WebhookRecordResult(true, id, stored.UserIds));
        }
    }

    public Task<IReadOnlyList<StoredWebhookEvent>> ListForUserAsync(string projectId, string userId, UserEventKeys keys, int limit,
        CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var found = new List<StoredWebhookEvent>();
            foreach (var (id, e) in _events.Reverse())
            {
                if (found.Count >= limit) break;
                if (e.ProjectId != projectId) continue;
                var matches = e.UserIds.Contains(userId) ||
                              (e.Email is not null && keys.Emails.Contains(e.Email)) ||
                              (e.Cookie is not null && keys.Cookies.Contains(e.Cookie)) ||
                              (e.LeadId is { } lead && keys.LeadIds.Contains(lead));
                if (matches) found.Add(new StoredWebhookEvent(id, e.EventName, (JsonObject)e.Values.DeepClone(), e.ReceivedAt, e.OccurredAt));
            }
            // Newest first by arrival; the list is already in arrival order, so a stable sort keeps ties by id.
            return Task.FromResult<IReadOnlyList<StoredWebhookEvent>>(
                found.OrderByDescending(e => e.ReceivedAt).ThenByDescending(e => e.Id).ToList());
        }
    }

    /// <summary>Retention (<see cref="Background.DataRetention"/>): deletes up to <paramref name="limit"/> events received
    /// before <paramref name="before"/>, oldest first; returns how many. A later repeat of a deleted event's idempotency
    /// key is recorded again, as in PostgreSQL.</summary>
    public int DeleteReceivedBefore(DateTimeOffset before, int limit)
    {
        lock (_gate)
        {
            var expired = _events.Where(e => e.Value.ReceivedAt < before).OrderBy(e => e.Value.ReceivedAt).Take(limit).ToList();
            foreach (var (id, e) in expired)
            {
                _events.Remove(id);
                if (e.DedupeKey is not null) _byDedupeKey.Remove((e.ProjectId, e.DedupeKey));
            }
            return expired.Count;
        }
    }
}
