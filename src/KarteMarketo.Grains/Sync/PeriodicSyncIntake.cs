using System.Collections.Concurrent;
using KarteMarketo.Contracts.Sync;

namespace KarteMarketo.Grains.Sync;

/// <summary>
/// Per silo: where the events endpoint hands the emails of identify events for the periodic sync. They go straight to
/// the durable <see cref="IPeriodicSyncQueue"/> (group-committed in PostgreSQL), so nothing accepted waits in memory;
/// the project's scheduler grain is called only the first time this silo sees the project (or a new interval), to make
/// sure its reminder runs.
/// </summary>
public sealed class PeriodicSyncIntake(IPeriodicSyncQueue queue, IGrainFactory grains, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, int> _scheduled = new(StringComparer.Ordinal);

    /// <summary>Queues normalised emails for the project's next periodic run; returns once they are stored.</summary>
    public async Task AddAsync(string projectId, ProjectSettings settings, IReadOnlyCollection<string> emails,
        CancellationToken cancellationToken = default)
    {
        if (emails.Count == 0) return;
        await queue.AddAsync(projectId, emails, time.GetUtcNow(), cancellationToken);
        var interval = settings.PeriodicSync.IntervalMinutes;
        if (_scheduled.TryGetValue(projectId, out var known) && known == interval) return;
        await grains.GetGrain<ISyncSchedulerGrain>(GrainKeys.SyncScheduler(projectId)).EnsureScheduledAsync();
        _scheduled[projectId] = interval;
    }
}
