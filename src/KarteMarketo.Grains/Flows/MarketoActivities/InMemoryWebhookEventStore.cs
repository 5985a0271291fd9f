using System.Text.Json.Nodes;

namespace KarteMarketo.Grains.Flows.MarketoActivities;

/// <summary>Webhook events of the embedded default (one process, nothing persists).</summary>
public sealed class InMemoryWebhookEventStore : IWebhookEventStore
{
    private readonly Lock _gate = new();
    private readonly List<NewWebhookEvent> _events = [];
    private readonly Dictionary<(string Project, string Key), int> _byDedupeKey = [];

    public Task<WebhookRecordResult> RecordAsync(NewWebhookEvent newEvent, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (newEvent.DedupeKey is not null && _byDedupeKey.TryGetValue((newEvent.ProjectId, newEvent.DedupeKey), out var index))
                return Task.FromResult(new WebhookRecordResult(false, index + 1, _events[index].UserIds));
            var stored = newEvent with { Values = (JsonObject)newEvent.Values.DeepClone(), UserIds = [.. newEvent.UserIds] };
            _events.Add(stored);
            if (newEvent.DedupeKey is not null) _byDedupeKey[(newEvent.ProjectId, newEvent.DedupeKey)] = _events.Count - 1;
            return Task.FromResult(new WebhookRecordResult(true, _events.Count, stored.UserIds));
        }
    }

    public Task<IReadOnlyList<StoredWebhookEvent>> ListForUserAsync(string projectId, string userId, UserEventKeys keys, int limit,
        CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var found = new List<StoredWebhookEvent>();
            for (var i = _events.Count - 1; i >= 0 && found.Count < limit; i--)
            {
                var e = _events[i];
                if (e.ProjectId != projectId) continue;
                var matches = e.UserIds.Contains(userId) ||
                              (e.Email is not null && keys.Emails.Contains(e.Email)) ||
                              (e.Cookie is not null && keys.Cookies.Contains(e.Cookie)) ||
                              (e.LeadId is { } lead && keys.LeadIds.Contains(lead));
                if (matches) found.Add(new StoredWebhookEvent(i + 1, e.EventName, (JsonObject)e.Values.DeepClone(), e.ReceivedAt, e.OccurredAt));
            }
            // Newest first by arrival; the list is already in arrival order, so a stable sort keeps ties by id.
            return Task.FromResult<IReadOnlyList<StoredWebhookEvent>>(
                found.OrderByDescending(e => e.ReceivedAt).ThenByDescending(e => e.Id).ToList());
        }
    }
}
