namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>The embedded default's queue: per project, the waiting emails and the current run's rest.</summary>
public sealed class InMemoryPeriodicSyncQueue : IPeriodicSyncQueue
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (HashSet<string> Waiting, SortedSet<string> InRun)> _projects = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Project, string Email), DateTimeOffset> _lookedUp = [];
    private readonly Dictionary<string, long> _removals = new(StringComparer.Ordinal);

    private (HashSet<string> Waiting, SortedSet<string> InRun) Of(string projectId)
    {
        if (!_projects.TryGetValue(projectId, out var queue))
            _projects[projectId] = queue = (new HashSet<string>(StringComparer.Ordinal), new SortedSet<string>(StringComparer.Ordinal));
        return queue;
    }

    public Task AddAsync(string projectId, IReadOnlyCollection<string> emails, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var queue = Of(projectId);
            foreach (var email in emails)
                if (!queue.InRun.Contains(email)) queue.Waiting.Add(email);
        }
        return Task.CompletedTask;
    }

    public Task<int> StartRunAsync(string projectId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var queue = Of(projectId);
            queue.InRun.UnionWith(queue.Waiting);
            queue.Waiting.Clear();
            return Task.FromResult(queue.InRun.Count);
        }
    }

    public Task<IReadOnlyList<string>> NextInRunAsync(string projectId, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            IReadOnlyList<string> next = Of(projectId).InRun.Take(limit).ToList();
            return Task.FromResult(next);
        }
    }

    public Task CompleteAsync(string projectId, IReadOnlyCollection<string> emails, CancellationToken cancellationToken = default)
    {
        if (emails.Count == 0) return Task.CompletedTask;
        lock (_gate)
        {
            var queue = Of(projectId);
            queue.InRun.ExceptWith(emails);
            _removals[projectId] = _removals.GetValueOrDefault(projectId) + 1;
            foreach (var email in emails)
                if (!queue.Waiting.Contains(email)) _lookedUp.Remove((projectId, email));
        }
        return Task.CompletedTask;
    }

    public Task MarkLookedUpAsync(string projectId, IReadOnlyCollection<string> emails, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            // Only queued emails carry the mark (as the table's rows do): nothing grows where periodic sync is idle.
            var queue = Of(projectId);
            foreach (var email in emails)
                if (queue.Waiting.Contains(email) || queue.InRun.Contains(email)) _lookedUp[(projectId, email)] = at;
        }
        return Task.CompletedTask;
    }

    public Task<IReadOnlySet<string>> LookedUpSinceAsync(string projectId, IReadOnlyCollection<string> emails, DateTimeOffset since,
        CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            IReadOnlySet<string> fresh = emails.Where(e => _lookedUp.TryGetValue((projectId, e), out var at) && at >= since)
                .ToHashSet(StringComparer.Ordinal);
            return Task.FromResult(fresh);
        }
    }

    public Task<long> RemovalsAsync(string projectId, CancellationToken cancellationToken = default)
    {
        lock (_gate) return Task.FromResult(_removals.GetValueOrDefault(projectId));
    }

    public Task StopRunAsync(string projectId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var queue = Of(projectId);
            queue.Waiting.UnionWith(queue.InRun);
            queue.InRun.Clear();
        }
        return Task.CompletedTask;
    }

    public Task<(int Waiting, int InRun)> CountAsync(string projectId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var queue = Of(projectId);
            return Task.FromResult((queue.Waiting.Count, queue.InRun.Count));
        }
    }
}
