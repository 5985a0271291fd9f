using System.Collections.Concurrent;
using KarteMarketo.Contracts.LeadSync;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>
/// Per silo: where the events endpoint hands the emails of identify events for the periodic sync. They go straight to
/// the durable <see cref="IPeriodicSyncQueue"/> (group-committed in PostgreSQL), so nothing accepted waits in memory;
/// the project's scheduler grain is called only the first time this silo sees the project (or a new interval), to make
/// sure its reminder runs.
/// </summary>
public sealed class PeriodicSyncIntake(IPeriodicSyncQueue queue, IGrainFactory grains, TimeProvider time)
{
    /// <summary>An email this silo queued this recently is taken as still queued and not written again: busy users
    /// identify many times a minute, and one row per interval is all the periodic sync needs. At worst an email whose
    /// run started within this time waits for the next interval.</summary>
    public static readonly TimeSpan RecentlyQueuedFor = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<string, int> _scheduled = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, RecentEmails> _recent = new(StringComparer.Ordinal);

    private sealed class RecentEmails(DateTimeOffset since)
    {
        public readonly Lock Gate = new();
        public DateTimeOffset Since = since;
        public readonly HashSet<string> Emails = new(StringComparer.Ordinal);
    }

    /// <summary>Whether <paramref name="email"/> is already queued by this silo for the project's current interval, so
    /// that <see cref="AddAsync"/> would write nothing and call nothing for it (the events endpoint's shortcut).</summary>
    public bool IsRecentlyQueued(string projectId, ProjectSettings settings, string email)
    {
        if (!_scheduled.TryGetValue(projectId, out var known) || known != settings.PeriodicSync.IntervalMinutes) return false;
        if (!_recent.TryGetValue(projectId, out var recent)) return false;
        var now = time.GetUtcNow();
        lock (recent.Gate)
        {
            return now - recent.Since < RecentlyQueuedFor && recent.Emails.Contains(email);
        }
    }

    /// <summary>Queues normalised emails for the project's next periodic run; returns once they are stored.</summary>
    public async Task AddAsync(string projectId, ProjectSettings settings, IReadOnlyCollection<string> emails,
        CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var recent = _recent.GetOrAdd(projectId, _ => new RecentEmails(now));
        List<string> fresh;
        lock (recent.Gate)
        {
            if (now - recent.Since >= RecentlyQueuedFor)
            {
                recent.Emails.Clear();
                recent.Since = now;
            }
            fresh = emails.Where(e => !recent.Emails.Contains(e)).ToList();
        }
        if (fresh.Count > 0)
        {
            await queue.AddAsync(projectId, fresh, now, cancellationToken);
            lock (recent.Gate) recent.Emails.UnionWith(fresh);   // only once stored
        }

        var interval = settings.PeriodicSync.IntervalMinutes;
        if (_scheduled.TryGetValue(projectId, out var known) && known == interval) return;
        await grains.GetGrain<ISyncSchedulerGrain>(GrainKeys.SyncScheduler(projectId)).EnsureScheduledAsync();
        _scheduled[projectId] = interval;
    }
}
