using System.Collections.Concurrent;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>The embedded default's journal: one silo, so it only matters when a delivery to a key failed.</summary>
public sealed class InMemoryPendingLookupJournal : IPendingLookupJournal
{
    private readonly ConcurrentDictionary<(string Project, LeadKeyType Type, string Value), DateTimeOffset> _rows = new();

    public Task MarkAsync(string projectId, LeadKeyType type, string value, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        _rows[(projectId, type, value)] = at;
        return Task.CompletedTask;
    }

    public Task ClearAsync(string projectId, LeadKeyType type, IReadOnlyCollection<string> values, DateTimeOffset upTo,
        CancellationToken cancellationToken = default)
    {
        foreach (var value in values)
        {
            var key = (projectId, type, value);
            if (_rows.TryGetValue(key, out var at) && at <= upTo)
                _rows.TryRemove(new KeyValuePair<(string, LeadKeyType, string), DateTimeOffset>(key, at));
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
