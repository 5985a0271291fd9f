using System.Collections.Concurrent;
using KarteMarketo.Contracts.LeadSync;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>
/// Per silo: where the events endpoint hands the emails of identify events for the periodic sync. A new email goes
/// straight to the durable <see cref="IPeriodicSyncQueue"/> (group-committed in PostgreSQL) before the request is
/// answered; the project's scheduler grain is called only the first time this silo sees the project (or a new
/// interval), to make sure its reminder runs.
/// <para>
/// Busy users identify many times a minute, and one queued row per interval is all the periodic sync needs, so the
/// silo remembers when it last stored each email. Under <see cref="RecentlyQueuedFor"/> nothing is written. Up to
/// <see cref="RefreshedAheadFor"/> the email is queued again in the background, without making the request wait: it
/// is still waiting in the queue, or a run that started since took it and looked it up at most that long ago, so the
/// sighting loses nothing the periodic sync would give KARTE. Older than that, or never stored here, it is written
/// before the answer. Queuing again in the background is what keeps a silo seeing the same users all day from
/// rewriting all of them in the same few milliseconds every ten seconds, each request waiting for the database.
/// </para>
/// </summary>
public sealed partial class PeriodicSyncIntake(IPeriodicSyncQueue queue, IGrainFactory grains, TimeProvider time,
    ILogger<PeriodicSyncIntake> logger)
{
    /// <summary>An email this silo stored this recently is taken as still queued and not written again. At worst an
    /// email whose run started within this time waits for the next interval.</summary>
    public static readonly TimeSpan RecentlyQueuedFor = TimeSpan.FromSeconds(10);

    /// <summary>Up to this age since it was stored, an email seen again is queued again in the background; beyond it
    /// the request waits for the write (and the silo forgets emails it has not seen for twice this long).</summary>
    public static readonly TimeSpan RefreshedAheadFor = TimeSpan.FromSeconds(60);

    private readonly ConcurrentDictionary<string, int> _scheduled = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, StoredEmails> _stored = new(StringComparer.Ordinal);
    private int _refreshesRunning;
    private TaskCompletionSource? _refreshesDone;
    private readonly Lock _refreshGate = new();

    /// <summary>When this silo last stored each email of one project. Two generations, swapped every
    /// <see cref="RefreshedAheadFor"/>, bound the memory to the emails seen in the last two of those without a sweep.</summary>
    private sealed class StoredEmails(DateTimeOffset since)
    {
        public readonly Lock Gate = new();
        public DateTimeOffset CurrentSince = since;
        public Dictionary<string, DateTimeOffset> Current = new(StringComparer.Ordinal);
        public Dictionary<string, DateTimeOffset> Previous = new(StringComparer.Ordinal);
        /// <summary>Emails whose background write is running (one at a time per email).</summary>
        public readonly HashSet<string> Refreshing = new(StringComparer.Ordinal);

        public void Rotate(DateTimeOffset now)
        {
            if (now - CurrentSince < RefreshedAheadFor) return;
            // Two rotations due at once: everything known is older than RefreshedAheadFor, so nothing is kept.
            Previous = now - CurrentSince < 2 * RefreshedAheadFor ? Current : new(StringComparer.Ordinal);
            Current = new(StringComparer.Ordinal);
            CurrentSince = now;
        }

        public bool TryGetStoredAt(string email, out DateTimeOffset at) =>
            Current.TryGetValue(email, out at) || Previous.TryGetValue(email, out at);

        public void Stored(IEnumerable<string> emails, DateTimeOffset at)
        {
            foreach (var email in emails)
            {
                // A slower write that began earlier must not make the email look older than a later one did.
                if (!TryGetStoredAt(email, out var known) || known < at) Current[email] = at;
            }
        }

        public void Forget(IEnumerable<string> emails)
        {
            foreach (var email in emails)
            {
                Current.Remove(email);
                Previous.Remove(email);
            }
        }
    }

    /// <summary>Whether <paramref name="email"/> is already queued by this silo for the project's current interval, so
    /// that <see cref="AddAsync"/> would write nothing and call nothing for it. One email at a time, for tests; the
    /// events endpoint asks <see cref="NotRecentlyQueued"/> once per request.</summary>
    internal bool IsRecentlyQueued(string projectId, ProjectSettings settings, string email) =>
        NotRecentlyQueued(projectId, settings, [new IdentifyInput("", email, null)]) is null;

    /// <summary>The events endpoint's shortcut, once per request: the identify emails that <see cref="AddAsync"/> would
    /// still have to queue (null where there is none), read under one lock with one clock reading.</summary>
    public List<string>? NotRecentlyQueued(string projectId, ProjectSettings settings, IReadOnlyList<IdentifyInput> identifies)
    {
        List<string>? notQueued = null;
        if (!_scheduled.TryGetValue(projectId, out var known) || known != settings.PeriodicSync.IntervalMinutes
            || !_stored.TryGetValue(projectId, out var stored))
        {
            foreach (var identify in identifies)
                if (identify.Email is { } email) (notQueued ??= []).Add(email);
            return notQueued;
        }
        var now = time.GetUtcNow();
        lock (stored.Gate)
        {
            foreach (var identify in identifies)
            {
                if (identify.Email is { } email && !(stored.TryGetStoredAt(email, out var at) && now - at < RecentlyQueuedFor))
                    (notQueued ??= []).Add(email);
            }
        }
        return notQueued;
    }

    /// <summary>Queues normalised emails for the project's next periodic run; returns once every email not stored by
    /// this silo in the last <see cref="RefreshedAheadFor"/> is stored (the others are queued again in the background).</summary>
    public async Task AddAsync(string projectId, ProjectSettings settings, IReadOnlyCollection<string> emails,
        CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var stored = _stored.GetOrAdd(projectId, _ => new StoredEmails(now));
        List<string>? mustWrite = null, refresh = null;
        lock (stored.Gate)
        {
            stored.Rotate(now);
            foreach (var email in emails)
            {
                if (stored.TryGetStoredAt(email, out var at) && now - at < RefreshedAheadFor)
                {
                    if (now - at >= RecentlyQueuedFor && stored.Refreshing.Add(email)) (refresh ??= []).Add(email);
                    continue;
                }
                (mustWrite ??= []).Add(email);
            }
        }
        if (refresh is not null) StartRefresh(projectId, stored, refresh, now);
        if (mustWrite is not null)
        {
            await queue.AddAsync(projectId, mustWrite, now, cancellationToken);
            lock (stored.Gate) stored.Stored(mustWrite, now);   // only once stored
        }

        var interval = settings.PeriodicSync.IntervalMinutes;
        if (_scheduled.TryGetValue(projectId, out var known) && known == interval) return;
        await grains.GetGrain<ISyncSchedulerGrain>(GrainKeys.SyncScheduler(projectId)).EnsureScheduledAsync();
        _scheduled[projectId] = interval;
    }

    /// <summary>How many emails of the project this silo remembers (tests: memory follows the recently seen users).</summary>
    internal int RememberedEmails(string projectId)
    {
        if (!_stored.TryGetValue(projectId, out var stored)) return 0;
        lock (stored.Gate) return stored.Current.Keys.Union(stored.Previous.Keys).Count();
    }

    /// <summary>Completes once no background write is running (tests, and a host that drains before it stops).</summary>
    public Task WhenRefreshedAsync()
    {
        lock (_refreshGate)
        {
            if (_refreshesRunning == 0) return Task.CompletedTask;
            return (_refreshesDone ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
    }

    private void StartRefresh(string projectId, StoredEmails stored, List<string> emails, DateTimeOffset now)
    {
        lock (_refreshGate) _refreshesRunning++;
        _ = Task.Run(async () =>
        {
            try
            {
                await queue.AddAsync(projectId, emails, now);
                lock (stored.Gate) stored.Stored(emails, now);
            }
            catch (Exception ex)
            {
                // Forgotten, so that the next sighting of each waits for its write (and sees its failure).
                lock (stored.Gate) stored.Forget(emails);
                LogRefreshFailed(ex, projectId, emails.Count);
            }
            finally
            {
                lock (stored.Gate) stored.Refreshing.ExceptWith(emails);
                TaskCompletionSource? done = null;
                lock (_refreshGate)
                {
                    if (--_refreshesRunning == 0) (done, _refreshesDone) = (_refreshesDone, null);
                }
                done?.TrySetResult();
            }
        });
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project {ProjectId}: queuing {Count} seen email(s) again for the periodic sync failed; their next sighting writes them")]
    private partial void LogRefreshFailed(Exception ex, string projectId, int count);
}
