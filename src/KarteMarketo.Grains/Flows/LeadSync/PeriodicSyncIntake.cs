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
/// silo remembers when it last knew each email to be queued. Under <see cref="RecentlyQueuedFor"/> nothing is read or
/// written. After that the silo asks the queue how many times a run has removed emails
/// (<see cref="IPeriodicSyncQueue.RemovalsAsync"/>, one small read per project at most every
/// <see cref="RemovalsReadFor"/>, shared by every request): where nothing was removed since the email was stored, it is
/// still queued, and known to be so as of that read. Only where a run has removed emails since (or the count cannot
/// be read) is the email written again: up to <see cref="RefreshedAheadFor"/> in the background, without making the
/// request wait (it is still waiting in the queue, or a run that started since took it and looked it up at most that
/// long ago, so the sighting loses nothing the periodic sync would give KARTE); older than that, or never stored
/// here, before the answer.
/// </para>
/// <para>
/// Why the count: without it every email seen all day was written again every ten seconds, all of them in the same few
/// milliseconds (they were first stored together), and each such write of ten thousand emails took PostgreSQL about
/// 45 ms of a core for rows it already had. On the benchmark's two cores that burst was the slowest second of every
/// half-load round in PostgreSQL mode. Now such rewrites happen only while a run is removing emails.
/// </para>
/// </summary>
public sealed partial class PeriodicSyncIntake : IDisposable
{
    private readonly IPeriodicSyncQueue _queue;
    private readonly IGrainFactory _grains;
    private readonly TimeProvider _time;
    private readonly ILogger<PeriodicSyncIntake> _logger;
    private readonly ITimer _rotation;

    public PeriodicSyncIntake(IPeriodicSyncQueue queue, IGrainFactory grains, TimeProvider time, ILogger<PeriodicSyncIntake> logger)
    {
        _queue = queue;
        _grains = grains;
        _time = time;
        _logger = logger;
        // Requests rotate their project's generations too; the timer is for a host that stops seeing a project: its
        // emails are forgotten within two rotations instead of staying until the next request.
        _rotation = time.CreateTimer(static state => ((PeriodicSyncIntake)state!).RotateAll(), this, RefreshedAheadFor, RefreshedAheadFor);
    }

    /// <summary>An email this silo knew to be queued this recently is taken as still queued, with nothing read or
    /// written. At worst an email whose run removed it within this time waits for the next interval.</summary>
    public static readonly TimeSpan RecentlyQueuedFor = TimeSpan.FromSeconds(10);

    /// <summary>Up to this age since it was last known queued, an email that a run may have removed is queued again in
    /// the background; beyond it the request waits for the write (and the silo forgets emails it has not seen for
    /// twice this long).</summary>
    public static readonly TimeSpan RefreshedAheadFor = TimeSpan.FromSeconds(60);

    /// <summary>A project's removal count read this recently is used as it is; an older one is read again (once, for
    /// every request that needs it). Half of <see cref="RecentlyQueuedFor"/>, so that an email confirmed by a reading
    /// stays recent for at least that long before it needs the next.</summary>
    public static readonly TimeSpan RemovalsReadFor = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, int> _scheduled = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, StoredEmails> _stored = new(StringComparer.Ordinal);
    private int _refreshesRunning;
    private TaskCompletionSource? _refreshesDone;
    private readonly Lock _refreshGate = new();

    /// <summary>When the silo last knew an email to be queued, and the project's removal count read before that
    /// (<see cref="UnknownRemovals"/> where none had been read).</summary>
    private readonly record struct StoredEmail(DateTimeOffset At, long Removals);

    private const long UnknownRemovals = -1;

    /// <summary>A project's removal count, as read when <see cref="ReadAt"/> (the moment the read started).</summary>
    private readonly record struct RemovalsReading(long Count, DateTimeOffset ReadAt);

    /// <summary>When this silo last knew each email of one project to be queued. Two generations, swapped every
    /// <see cref="RefreshedAheadFor"/>, bound the memory to the emails seen in the last two of those without a sweep.</summary>
    private sealed class StoredEmails(DateTimeOffset since)
    {
        public readonly Lock Gate = new();
        public DateTimeOffset CurrentSince = since;
        public Dictionary<string, StoredEmail> Current = new(StringComparer.Ordinal);
        public Dictionary<string, StoredEmail> Previous = new(StringComparer.Ordinal);
        /// <summary>Emails whose background write is running (one at a time per email).</summary>
        public readonly HashSet<string> Refreshing = new(StringComparer.Ordinal);
        /// <summary>The last removal count read, and the read in flight (one at a time).</summary>
        public RemovalsReading? Removals;
        public TaskCompletionSource<RemovalsReading?>? RemovalsRead;

        public void Rotate(DateTimeOffset now)
        {
            if (now - CurrentSince < RefreshedAheadFor) return;
            // Two rotations due at once: everything known is older than RefreshedAheadFor, so nothing is kept.
            Previous = now - CurrentSince < 2 * RefreshedAheadFor ? Current : new(StringComparer.Ordinal);
            Current = new(StringComparer.Ordinal);
            CurrentSince = now;
        }

        public bool TryGet(string email, out StoredEmail stored) =>
            Current.TryGetValue(email, out stored) || Previous.TryGetValue(email, out stored);

        /// <summary>The removal count to record with a write starting now: one read before it, or unknown.</summary>
        public long RemovalsBeforeWrite => Removals?.Count ?? UnknownRemovals;

        public void Stored(IEnumerable<string> emails, DateTimeOffset at, long removals)
        {
            foreach (var email in emails)
            {
                // A slower write that began earlier must not make the email look older than a later one did.
                if (!TryGet(email, out var known) || known.At < at) Current[email] = new StoredEmail(at, removals);
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
        var now = _time.GetUtcNow();
        lock (stored.Gate)
        {
            foreach (var identify in identifies)
            {
                if (identify.Email is { } email && !(stored.TryGet(email, out var queued) && now - queued.At < RecentlyQueuedFor))
                    (notQueued ??= []).Add(email);
            }
        }
        return notQueued;
    }

    /// <summary>Queues normalised emails for the project's next periodic run; returns once every email not known to be
    /// queued is stored (those a run may have removed in the last <see cref="RefreshedAheadFor"/> are queued again in
    /// the background).</summary>
    public async Task AddAsync(string projectId, ProjectSettings settings, IReadOnlyCollection<string> emails,
        CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        var stored = _stored.GetOrAdd(projectId, _ => new StoredEmails(now));
        List<string>? mustWrite = null, due = null, refresh = null;
        lock (stored.Gate)
        {
            stored.Rotate(now);
            foreach (var email in emails)
            {
                if (!stored.TryGet(email, out var known)) (mustWrite ??= []).Add(email);
                else if (now - known.At >= RecentlyQueuedFor) (due ??= []).Add(email);
            }
        }
        // A write records the count read before it; a due email is confirmed by a reading taken after it was stored.
        var reading = mustWrite is null && due is null ? null : await ReadRemovalsAsync(projectId, stored, now, cancellationToken);
        long removalsBefore;
        lock (stored.Gate)
        {
            if (due is not null)
            {
                foreach (var email in due)
                {
                    if (!stored.TryGet(email, out var known))
                    {
                        (mustWrite ??= []).Add(email);      // forgotten meanwhile: a background write failed
                        continue;
                    }
                    if (now - known.At < RecentlyQueuedFor) continue;    // another request confirmed or wrote it meanwhile
                    if (reading is { } r && r.Count == known.Removals && r.ReadAt > known.At)
                        stored.Current[email] = known with { At = r.ReadAt };   // nothing removed since it was stored
                    else if (now - known.At < RefreshedAheadFor)
                    {
                        if (stored.Refreshing.Add(email)) (refresh ??= []).Add(email);
                    }
                    else (mustWrite ??= []).Add(email);
                }
            }
            removalsBefore = stored.RemovalsBeforeWrite;
        }
        if (refresh is not null) StartRefresh(projectId, stored, refresh, now, removalsBefore);
        if (mustWrite is not null)
        {
            await _queue.AddAsync(projectId, mustWrite, now, cancellationToken);
            lock (stored.Gate) stored.Stored(mustWrite, now, removalsBefore);   // only once stored
        }

        var interval = settings.PeriodicSync.IntervalMinutes;
        if (_scheduled.TryGetValue(projectId, out var scheduled) && scheduled == interval) return;
        await _grains.GetGrain<ISyncSchedulerGrain>(GrainKeys.SyncScheduler(projectId)).EnsureScheduledAsync();
        _scheduled[projectId] = interval;
    }

    /// <summary>The project's removal count, read at most every <see cref="RemovalsReadFor"/> and once at a time (every
    /// request that needs it meanwhile shares that read); null where it cannot be read, so that the caller writes.</summary>
    private async Task<RemovalsReading?> ReadRemovalsAsync(string projectId, StoredEmails stored, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        TaskCompletionSource<RemovalsReading?>? running;
        TaskCompletionSource<RemovalsReading?> read;
        lock (stored.Gate)
        {
            if (stored.Removals is { } known && now - known.ReadAt < RemovalsReadFor) return known;
            running = stored.RemovalsRead;
            read = stored.RemovalsRead ??= new TaskCompletionSource<RemovalsReading?>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        if (running is not null) return await running.Task.WaitAsync(cancellationToken);
        RemovalsReading? reading = null;
        try
        {
            // Taken before the read: what the count says holds at least from this moment.
            var readAt = _time.GetUtcNow();
            reading = new RemovalsReading(await _queue.RemovalsAsync(projectId, CancellationToken.None), readAt);
        }
        catch (Exception ex)
        {
            LogRemovalsReadFailed(ex, projectId);
        }
        lock (stored.Gate)
        {
            if (reading is { } r && (stored.Removals is not { } previous || previous.ReadAt < r.ReadAt)) stored.Removals = r;
            stored.RemovalsRead = null;
        }
        read.TrySetResult(reading);
        return reading;
    }

    private void RotateAll()
    {
        var now = _time.GetUtcNow();
        foreach (var stored in _stored.Values)
        {
            lock (stored.Gate) stored.Rotate(now);
        }
    }

    public void Dispose() => _rotation.Dispose();

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

    private void StartRefresh(string projectId, StoredEmails stored, List<string> emails, DateTimeOffset now, long removalsBefore)
    {
        lock (_refreshGate) _refreshesRunning++;
        _ = Task.Run(async () =>
        {
            try
            {
                await _queue.AddAsync(projectId, emails, now);
                lock (stored.Gate) stored.Stored(emails, now, removalsBefore);
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project {ProjectId}: reading how often the periodic run removed emails failed; the emails it would have confirmed are written again")]
    private partial void LogRemovalsReadFailed(Exception ex, string projectId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project {ProjectId}: queuing {Count} seen email(s) again for the periodic sync failed; their next sighting writes them")]
    private partial void LogRefreshFailed(Exception ex, string projectId, int count);
}
