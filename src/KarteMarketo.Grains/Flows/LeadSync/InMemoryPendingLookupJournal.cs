using System.Collections.Concurrent;
using KarteMarketo.Grains.Background;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>The embedded default's journal: one silo, so it only matters when a delivery to a key failed.</summary>
public sealed class InMemoryPendingLookupJournal(SiloHolder? holder = null) : IPendingLookupJournal
{
    private readonly ConcurrentDictionary<(string Project, LeadKeyType Type, string Value), DateTimeOffset> _rows = new();
    private readonly ConcurrentDictionary<(string Project, LeadKeyType Type, string Value), string?> _holders = new();
    private readonly Lock _takeover = new();

    public Task MarkAsync(string projectId, LeadKeyType type, string value, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        _rows[(projectId, type, value)] = at;
        _holders[(projectId, type, value)] = holder?.Id;
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<PendingLookup>> TakeOverAsync(IReadOnlyCollection<string> deadHolders, int limit, CancellationToken cancellationToken = default)
    {
        lock (_takeover)
        {
            var taken = new List<PendingLookup>();
            foreach (var (key, at) in _rows)
            {
                if (taken.Count >= limit) break;
                if (!_holders.TryGetValue(key, out var held) || held is null || !deadHolders.Contains(held)) continue;
                _holders[key] = holder?.Id;
                taken.Add(new PendingLookup(key.Project, key.Type, key.Value, at));
            }
            return Task.FromResult<IReadOnlyList<PendingLookup>>(taken);
        }
    }

    public Task ClearAsync(string projectId, LeadKeyType type, IReadOnlyCollection<string> values, DateTimeOffset upTo,
        CancellationToken cancellationToken = default)
    {
        foreach (var value in values)
        {
            var key = (projectId, type, value);
            if (_rows.TryGetValue(key, out var at) && at <= upTo)
            {
                if (_rows.TryRemove(new KeyValuePair<(string, LeadKeyType, string), DateTimeOffset>(key, at)))
                    _holders.TryRemove(key, out _);
            }
        }
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<PendingLookup>> FindOlderThanAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default)
    {
        IReadOnlyList<PendingLookup> found = _rows
            .Where(r => r.Value < before)
            .OrderBy(r => r.Value)
            .Take(limit)
            .Select(r => new PendingLookup(r.Key.Project, r.Key.Type, r.Key.Value, r.Value))
            .ToList();
        return Task.FromResult(found);
    }
}
