namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>
/// Keys each project will look up again by itself (<see cref="LeadBacklogGrain"/>): those deferred for lack of a permit
/// (quota, rate window, Marketo's 606/615/607) and those a resync queued (every known key, after a settings change or a
/// move to another Marketo instance). A key is held once, with the time it is due. PostgreSQL in production
/// (<c>db/migrations/0150_lead_identity.sql</c>), memory in the embedded default.
/// </summary>
public interface ILeadKeyBacklog
{
    /// <summary>Adds keys due at <paramref name="dueAt"/>; a key already held keeps the earlier of the two times.</summary>
    Task AddAsync(string projectId, LeadKeyType type, IReadOnlyCollection<string> values, DateTimeOffset dueAt,
        CancellationToken cancellationToken = default);

    /// <summary>Up to <paramref name="limit"/> keys of one type due at <paramref name="now"/>, in ordinal order.</summary>
    Task<IReadOnlyList<string>> DueAsync(string projectId, LeadKeyType type, DateTimeOffset now, int limit,
        CancellationToken cancellationToken = default);

    /// <summary>Moves keys to a later time (the budget did not allow them yet).</summary>
    Task PostponeAsync(string projectId, LeadKeyType type, IReadOnlyCollection<string> values, DateTimeOffset dueAt,
        CancellationToken cancellationToken = default);

    /// <summary>Removes looked-up keys.</summary>
    Task RemoveAsync(string projectId, LeadKeyType type, IReadOnlyCollection<string> values, CancellationToken cancellationToken = default);

    /// <summary>How many keys the project holds, and the earliest due time (null when none).</summary>
    Task<(int Count, DateTimeOffset? NextDueAt)> CountAsync(string projectId, CancellationToken cancellationToken = default);
}

/// <summary>The embedded default's backlog: memory only.</summary>
public sealed class InMemoryLeadKeyBacklog : ILeadKeyBacklog
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Project, LeadKeyType Type, string Value), DateTimeOffset> _keys = [];

    public Task AddAsync(string projectId, LeadKeyType type, IReadOnlyCollection<string> values, DateTimeOffset dueAt,
        CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            foreach (var value in values)
            {
                var key = (projectId, type, value);
                _keys[key] = _keys.TryGetValue(key, out var held) && held < dueAt ? held : dueAt;
            }
        }
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<string>> DueAsync(string projectId, LeadKeyType type, DateTimeOffset now, int limit,
        CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            IReadOnlyList<string> due = [.. _keys.Where(kv => kv.Key.Project == projectId && kv.Key.Type == type && kv.Value <= now)
                .Select(kv => kv.Key.Value).Order(StringComparer.Ordinal).Take(limit)];
            return Task.FromResult(due);
        }
    }

    public Task PostponeAsync(string projectId, LeadKeyType type, IReadOnlyCollection<string> values, DateTimeOffset dueAt,
        CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            foreach (var value in values)
                if (_keys.ContainsKey((projectId, type, value))) _keys[(projectId, type, value)] = dueAt;
        }
        return Task.CompletedTask;
    }

    public Task RemoveAsync(string projectId, LeadKeyType type, IReadOnlyCollection<string> values, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            foreach (var value in values) _keys.Remove((projectId, type, value));
        }
        return Task.CompletedTask;
    }

    public Task<(int Count, DateTimeOffset? NextDueAt)> CountAsync(string projectId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var held = _keys.Where(kv => kv.Key.Project == projectId).Select(kv => kv.Value).ToList();
            return Task.FromResult((held.Count, held.Count == 0 ? (DateTimeOffset?)null : held.Min()));
        }
    }
}
