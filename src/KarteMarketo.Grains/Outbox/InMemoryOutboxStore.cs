using KarteMarketo.Grains.Flows.CustomActivities;
using KarteMarketo.Grains.Flows.LeadUpserts;

using KarteMarketo.Grains.Background;

namespace KarteMarketo.Grains.Outbox;

/// <summary>The outboxes of the embedded default: one process, nothing persists (the host says so at start-up).</summary>
public sealed class InMemoryOutboxStore(SiloHolder? holder = null) : IOutboxStore
{
    private readonly Lock _gate = new();
    /// <summary>Which silo claimed each in-flight row (kept beside the rows: the row model has no holder).</summary>
    private readonly Dictionary<long, string?> _holders = [];
    private readonly Dictionary<long, OutboxRow> _rows = [];
    private readonly Dictionary<(string Project, OutboxKind Kind, string DeliveryId), long> _byDelivery = [];
    private readonly Dictionary<(string Project, string Instance, string Token), long> _associations = [];
    private long _nextId;

    public Task<IReadOnlySet<string>> EnqueueAsync(string projectId, OutboxKind kind, IReadOnlyList<OutboxEntry> entries,
        DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var added = new HashSet<string>(StringComparer.Ordinal);
        lock (_gate)
        {
            foreach (var entry in entries)
            {
                if (_byDelivery.ContainsKey((projectId, kind, entry.DeliveryId))) continue;
                var id = ++_nextId;
                _byDelivery[(projectId, kind, entry.DeliveryId)] = id;
                _rows[id] = new OutboxRow
                {
                    Id = id, ProjectId = projectId, Kind = kind, DeliveryId = entry.DeliveryId, UserId = entry.UserId,
                    Email = entry.Email, Payload = (System.Text.Json.Nodes.JsonObject)entry.Payload.DeepClone(),
                    Status = OutboxStatus.Pending, NextAttemptAt = now, CreatedAt = now, UpdatedAt = now,
                };
                added.Add(entry.DeliveryId);
            }
        }
        return Task.FromResult<IReadOnlySet<string>>(added);
    }

    public Task<IReadOnlyList<OutboxRow>> ClaimAsync(string projectId, OutboxKind kind, int limit, int minimum, Guid leaseId,
        DateTimeOffset now, DateTimeOffset leaseUntil, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var ofKind = _rows.Values.Where(r => r.ProjectId == projectId && r.Kind == kind).ToList();
            // Per user, the first row that waits but is not due yet (KeepsUserOrder): none of their later rows may overtake it.
            var held = kind.KeepsUserOrder()
                ? ofKind.Where(r => r.UserId is not null && IsWaiting(r) && !IsDue(r, now))
                    .GroupBy(r => r.UserId!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Min(r => r.Id), StringComparer.Ordinal)
                : [];
            var claimed = ofKind
                .Where(r => IsDue(r, now) && !(r.UserId is not null && held.TryGetValue(r.UserId, out var first) && first < r.Id))
                .OrderBy(r => r.Id)
                .Take(limit)
                .Select(r => r with
                {
                    Status = OutboxStatus.InFlight, LeaseId = leaseId, LeaseUntil = leaseUntil, UpdatedAt = now,
                    PossibleDuplicate = r.PossibleDuplicate || (r.Status == OutboxStatus.InFlight && r.SentAt is not null),
                    SentAt = null,
                })
                .ToList();
            if (claimed.Count < minimum) return Task.FromResult<IReadOnlyList<OutboxRow>>([]);
            foreach (var row in claimed)
            {
                _rows[row.Id] = row;
                _holders[row.Id] = holder?.Id;
            }
            return Task.FromResult<IReadOnlyList<OutboxRow>>(claimed);
        }
    }

    /// <summary>Retention (<see cref="Background.DataRetention"/>): deletes up to <paramref name="limit"/> delivered rows of
    /// <paramref name="kind"/> delivered before <paramref name="before"/>, oldest first; returns how many.</summary>
    public int DeleteDeliveredBefore(OutboxKind kind, DateTimeOffset before, int limit)
    {
        lock (_gate)
        {
            var expired = _rows.Values
                .Where(r => r.Kind == kind && r.Status == OutboxStatus.Delivered && r.DeliveredAt < before)
                .OrderBy(r => r.DeliveredAt)
                .Take(limit)
                .ToList();
            foreach (var row in expired)
            {
                _rows.Remove(row.Id);
                _holders.Remove(row.Id);
                _byDelivery.Remove((row.ProjectId, row.Kind, row.DeliveryId));
            }
            return expired.Count;
        }
    }

    private static bool IsWaiting(OutboxRow row) => row.Status is OutboxStatus.Pending or OutboxStatus.InFlight;

    private static bool IsDue(OutboxRow row, DateTimeOffset now) =>
        (row.Status == OutboxStatus.Pending && row.NextAttemptAt <= now) ||
        (row.Status == OutboxStatus.InFlight && row.LeaseUntil <= now);

    public Task<int> MarkSendingAsync(Guid leaseId, IReadOnlyCollection<long> ids, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var marked = 0;
        lock (_gate)
        {
            foreach (var id in ids)
            {
                if (_rows.TryGetValue(id, out var row) && row.LeaseId == leaseId && row.Status == OutboxStatus.InFlight)
                {
                    _rows[id] = row with { SentAt = now };
                    marked++;
                }
            }
        }
        return Task.FromResult(marked);
    }

    public Task CompleteAsync(Guid leaseId, IReadOnlyList<OutboxOutcome> outcomes, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            foreach (var o in outcomes)
            {
                if (!_rows.TryGetValue(o.Id, out var row) || row.LeaseId != leaseId || row.Status != OutboxStatus.InFlight) continue;
                _rows[o.Id] = row with
                {
                    Status = o.Status, Attempts = o.Attempts, NextAttemptAt = o.NextAttemptAt,
                    LeadId = o.LeadId ?? row.LeadId, SyncedAt = o.SyncedAt ?? row.SyncedAt,
                    MarketoGuid = o.MarketoGuid ?? row.MarketoGuid, Result = o.Result?.DeepClone() ?? row.Result,
                    ErrorCode = o.ErrorCode, ErrorMessage = o.ErrorMessage, DeliveredAt = o.DeliveredAt ?? row.DeliveredAt,
                    LeaseId = null, LeaseUntil = null, SentAt = null, UpdatedAt = now,
                };
            }
        }
        return Task.CompletedTask;
    }

    public Task<int> RecoverAsync(string projectId, OutboxKind kind, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var stuck = _rows.Values.Where(r => r.ProjectId == projectId && r.Kind == kind && r.Status == OutboxStatus.InFlight).ToList();
            foreach (var row in stuck)
            {
                _rows[row.Id] = row with
                {
                    Status = OutboxStatus.Pending, NextAttemptAt = now, LeaseId = null, LeaseUntil = null,
                    PossibleDuplicate = row.PossibleDuplicate || row.SentAt is not null, SentAt = null, UpdatedAt = now,
                };
            }
            return Task.FromResult(stuck.Count);
        }
    }

    public Task<IReadOnlyList<OutboxWork>> TakeOverAsync(IReadOnlyCollection<string> deadHolders, DateTimeOffset now,
        CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var work = new HashSet<OutboxWork>();
            foreach (var row in _rows.Values.Where(r => r.Status == OutboxStatus.InFlight).ToList())
            {
                if (!_holders.TryGetValue(row.Id, out var held) || held is null || !deadHolders.Contains(held)) continue;
                _rows[row.Id] = row with
                {
                    Status = OutboxStatus.Pending, NextAttemptAt = now, LeaseId = null, LeaseUntil = null,
                    PossibleDuplicate = row.PossibleDuplicate || row.SentAt is not null, SentAt = null, UpdatedAt = now,
                };
                _holders.Remove(row.Id);
                work.Add(new OutboxWork(row.ProjectId, row.Kind));
            }
            return Task.FromResult<IReadOnlyList<OutboxWork>>([.. work]);
        }
    }

    public Task<DateTimeOffset?> NextDueAsync(string projectId, OutboxKind kind, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var due = _rows.Values
                .Where(r => r.ProjectId == projectId && r.Kind == kind && r.Status == OutboxStatus.Pending)
                .Select(r => (DateTimeOffset?)r.NextAttemptAt)
                .Min();
            return Task.FromResult(due);
        }
    }

    public Task<IReadOnlyList<OutboxWork>> FindWorkAsync(DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var work = _rows.Values
                .Where(r => (r.Status == OutboxStatus.Pending && r.NextAttemptAt <= now) || r.Status == OutboxStatus.InFlight)
                .Select(r => new OutboxWork(r.ProjectId, r.Kind))
                .Distinct()
                .ToList();
            return Task.FromResult<IReadOnlyList<OutboxWork>>(work);
        }
    }

    public Task<IReadOnlyList<OutboxRow>> ListAsync(string projectId, OutboxKind kind, IReadOnlyCollection<string>? statuses, int limit,
        CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var rows = _rows.Values
                .Where(r => r.ProjectId == projectId && r.Kind == kind && (statuses is null || statuses.Count == 0 || statuses.Contains(r.Status)))
                .OrderByDescending(r => r.Id)
                .Take(limit)
                .ToList();
            return Task.FromResult<IReadOnlyList<OutboxRow>>(rows);
        }
    }

    public Task<IReadOnlyDictionary<string, long>> CountByStatusAsync(string projectId, OutboxKind kind,
        CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            IReadOnlyDictionary<string, long> counts = _rows.Values.Where(r => r.ProjectId == projectId && r.Kind == kind)
                .GroupBy(r => r.Status).ToDictionary(g => g.Key, g => (long)g.Count(), StringComparer.Ordinal);
            return Task.FromResult(counts);
        }
    }

    public Task<int> MakeDueAsync(string projectId, OutboxKind kind, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var later = _rows.Values.Where(r => r.ProjectId == projectId && r.Kind == kind && r.Status == OutboxStatus.Pending && r.NextAttemptAt > now).ToList();
            foreach (var row in later) _rows[row.Id] = row with { NextAttemptAt = now, UpdatedAt = now };
            return Task.FromResult(later.Count);
        }
    }

    public Task<int> RetryFailedAsync(string projectId, OutboxKind kind, IReadOnlyCollection<long>? ids, int limit, DateTimeOffset now,
        CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var rows = _rows.Values
                .Where(r => r.ProjectId == projectId && r.Kind == kind && r.Status == OutboxStatus.Failed && (ids is null || ids.Contains(r.Id)))
                .OrderBy(r => r.Id)
                .Take(limit)
                .ToList();
            foreach (var row in rows)
                _rows[row.Id] = row with { Status = OutboxStatus.Pending, Attempts = 0, NextAttemptAt = now, UpdatedAt = now };
            return Task.FromResult(rows.Count);
        }
    }

    public Task<long?> GetCookieAssociationAsync(string projectId, string instance, string token, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return Task.FromResult(_associations.TryGetValue((projectId, instance, token), out var lead) ? lead : (long?)null);
        }
    }

    public Task RecordCookieAssociationAsync(string projectId, string instance, string token, long leadId, DateTimeOffset now,
        CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            _associations[(projectId, instance, token)] = leadId;
        }
        return Task.CompletedTask;
    }
}
