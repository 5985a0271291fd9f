using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Projects;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>
/// Per silo, project and key type (<c>b:{project}/{email|cookie}</c>): gathers lookups for up to
/// <c>batchDelayMilliseconds</c> or 300 keys, makes one Marketo call for them and hands each result to its key grain.
/// Shaped after GPSTracker's push notifier: a queue in memory, flushed by a grain timer, one flush at a time, and a
/// last flush on deactivation. With a delay of 0 every key gets its own call (the original plugin's behaviour, kept
/// for comparison).
/// </summary>
[GrainType("lead-lookup-batcher")]
// One per silo: a second local worker would split batches and double the calls. Not removed when idle: its calls run
// in the background, so it looks idle while keys wait for a permit, and while a worker deactivates, messages to it wait
// for placement and expire (seen as stalled identify requests under a naive, one-key-per-call load).
[StatelessWorker(1, removeIdleWorkers: false)]
[Reentrant]          // keys keep arriving while a call is in flight
public sealed partial class LeadLookupBatcher(
    LeadLookupExecutor executor,
    IProjectDirectory directory,
    IPendingLookupJournal journal,
    ILeadKeyBacklog backlog,
    IPeriodicSyncQueue periodicQueue,
    TimeProvider time,
    ILogger<LeadLookupBatcher> logger) : Grain, ILeadLookupBatcher
{
    private string _projectId = "";
    private LeadKeyType _type;
    // Realtime first: lookups for the outboxes (other purposes) queue behind it, in arrival order.
    private readonly SortedDictionary<MarketoCallPurpose, OrderedKeys> _queues = [];
    private readonly HashSet<Task> _naiveCalls = [];
    // Keys with a naive call queued or running: a key asked again meanwhile (a recovered lookup) rides on that call.
    private readonly HashSet<(MarketoCallPurpose, string)> _naiveKeys = [];
    private Task _flushTask = Task.CompletedTask;
    private SemaphoreSlim? _naiveSlots;

    /// <summary>A refusal that lifts within this is waited out; a longer one (the day's budget) defers the keys.</summary>
    private static readonly TimeSpan MaxRetryWait = TimeSpan.FromMinutes(1);
    private IGrainTimer? _timer;

    private sealed class OrderedKeys
    {
        private readonly List<string> _order = [];
        private readonly HashSet<string> _set = new(StringComparer.Ordinal);
        public int Count => _order.Count;
        public void Add(string key) { if (_set.Add(key)) _order.Add(key); }
        public void Requeue(List<string> keys)
        {
            var fresh = keys.Where(_set.Add).ToList();
            _order.InsertRange(0, fresh);
        }

        public List<string> Take(int max)
        {
            var taken = _order.Take(max).ToList();
            _order.RemoveRange(0, taken.Count);
            foreach (var key in taken) _set.Remove(key);
            return taken;
        }
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var key = this.GetPrimaryKeyString();
        var slash = key.LastIndexOf('/');
        _projectId = key[2..slash];
        _type = key[(slash + 1)..] == "cookie" ? LeadKeyType.Cookie : LeadKeyType.Email;
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // Flush the rest now. Keys that must wait for a permit cannot wait here: realtime ones are queued again from
        // the pending-lookup journal, and outbox lookups time out in their dispatcher, which retries them.
        await FlushLoopAsync(FlushScope.Everything);
        await Task.WhenAll(_naiveCalls.ToArray());
    }

    public async Task EnqueueAsync(LeadLookupRequest request)
    {
        var settings = (await directory.GetAsync(_projectId))?.Settings;
        if (settings is null) return;   // the project is gone

        var delay = TimeSpan.FromMilliseconds(settings.RealtimeSync.BatchDelayMilliseconds);
        if (delay <= TimeSpan.Zero)
        {
            if (!_naiveKeys.Add((request.Purpose, request.Value))) return;
            var call = NaiveLookupAsync(settings, request);
            _naiveCalls.Add(call);
            _ = call.ContinueWith(t => _naiveCalls.Remove(t), TaskScheduler.Current);
            return;
        }

        if (!_queues.TryGetValue(request.Purpose, out var queue)) _queues[request.Purpose] = queue = new OrderedKeys();
        queue.Add(request.Value);

        if (_queues.Values.Any(q => q.Count >= LeadLookupExecutor.MaxKeysPerCall))
            StartFlush(FlushScope.FullBatches);   // a full batch need not wait for the timer
        else
            _timer ??= this.RegisterGrainTimer(OnTimerAsync, new GrainTimerCreationOptions(delay, Timeout.InfiniteTimeSpan) { Interleave = true });
    }

    private Task OnTimerAsync(CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        _timer = null;
        StartFlush(FlushScope.Due);
        return Task.CompletedTask;
    }

    /// <summary>What a flush sends.</summary>
    private enum FlushScope
    {
        /// <summary>Only full batches (300 keys).</summary>
        FullBatches,
        /// <summary>Full batches, and the keys that were queued when the flush began (their batch delay is over). Keys
        /// arriving during the flush's calls wait for their own timer, so that they gather into full batches instead
        /// of riding along in small ones.</summary>
        Due,
        /// <summary>Everything, including keys arriving meanwhile (deactivation).</summary>
        Everything,
    }

    /// <summary>Only one flush runs at a time; a full-batch flush asked for meanwhile is covered by the running one's
    /// loop, while a timer flush chains behind it so that its partial batch goes too.</summary>
    private void StartFlush(FlushScope scope)
    {
        if (_flushTask.IsCompleted) _flushTask = FlushLoopAsync(scope);
        else if (scope != FlushScope.FullBatches) _flushTask = ChainAsync(_flushTask);

        async Task ChainAsync(Task previous)
        {
            await previous;
            await FlushLoopAsync(scope);
        }
    }

    private async Task FlushLoopAsync(FlushScope scope)
    {
        // How many keys of each queue are due now; full batches always go.
        var due = _queues.ToDictionary(q => q.Key, q => scope == FlushScope.FullBatches ? 0 : q.Value.Count);
        while (true)
        {
            var next = _queues.FirstOrDefault(q => q.Value.Count >= LeadLookupExecutor.MaxKeysPerCall
                || (q.Value.Count > 0 && (scope == FlushScope.Everything || due.GetValueOrDefault(q.Key) > 0)));
            if (next.Value is null) break;
            var keys = next.Value.Take(LeadLookupExecutor.MaxKeysPerCall);
            due[next.Key] = due.GetValueOrDefault(next.Key) - keys.Count;
            var settings = (await directory.GetAsync(_projectId))?.Settings;
            if (settings is null) return;
            if (await LookupAndDeliverAsync(settings, keys, next.Key) is { } retryAfter)
            {
                // A short wait (rate window, in-flight slots): the keys go back to the front and wait, undelivered.
                next.Value.Requeue(keys);
                _timer?.Dispose();
                _timer = this.RegisterGrainTimer(OnTimerAsync, new GrainTimerCreationOptions(retryAfter, Timeout.InfiniteTimeSpan) { Interleave = true });
                return;
            }
        }
        // Keys left over (a partial batch) wait for the timer.
        if (_timer is null && _queues.Values.Any(q => q.Count > 0) && (await directory.GetAsync(_projectId))?.Settings is { } s)
            _timer = this.RegisterGrainTimer(OnTimerAsync,
                new GrainTimerCreationOptions(TimeSpan.FromMilliseconds(Math.Max(1, s.RealtimeSync.BatchDelayMilliseconds)), Timeout.InfiniteTimeSpan) { Interleave = true });
    }

    /// <summary>The original plugin's way: one call per key, as many at once as the quota's in-flight setting allows.</summary>
    private async Task NaiveLookupAsync(ProjectSettings settings, LeadLookupRequest request)
    {
        var slots = _naiveSlots ??= new SemaphoreSlim(Math.Max(1, settings.Quota.MaxConcurrentCalls));
        await slots.WaitAsync();
        try
        {
            while (await LookupAndDeliverAsync(settings, [request.Value], request.Purpose) is { } retryAfter)
                await Task.Delay(retryAfter, time);
        }
        finally
        {
            slots.Release();
            _naiveKeys.Remove((request.Purpose, request.Value));
        }
    }

    /// <summary>Looks the keys up and hands every result to its key grain. Returns a wait instead (delivering nothing)
    /// when the quota refused the call for a short while only; a long refusal (the day's budget) is delivered as deferred.</summary>
    private async Task<TimeSpan?> LookupAndDeliverAsync(ProjectSettings settings, IReadOnlyList<string> keys, MarketoCallPurpose purpose)
    {
        var takenAt = time.GetUtcNow();
        IReadOnlyDictionary<string, LeadLookupResult> results;
        var missing = new LeadLookupResult(SyncResult.Failed, null, null, "no result for this key", purpose, time.GetUtcNow());
        try
        {
            var outcome = await executor.LookupAsync(_projectId, settings, _type, keys, purpose);
            if (outcome.Denied is { Denial: QuotaDenial.RateWindow or QuotaDenial.Concurrency or QuotaDenial.BackingOff } denied
                && denied.RetryAfter <= MaxRetryWait)
                return denied.RetryAfter > TimeSpan.Zero ? denied.RetryAfter : TimeSpan.FromMilliseconds(100);
            results = outcome.Results;
            if (results.Count > 0 && results.Values.All(r => r.Result == SyncResult.Deferred))
                results = await BacklogAsync(keys, results, outcome.Denied);
        }
        catch (Exception ex)
        {
            // Every key must hear back, or it would stay pending until its lookup is considered lost.
            LogLookupFailed(ex, _projectId, keys.Count);
            var failed = new LeadLookupResult(SyncResult.Failed, null, null, $"lookup failed: {ex.GetType().Name}", purpose, time.GetUtcNow());
            results = keys.ToDictionary(k => k, _ => failed, StringComparer.Ordinal);
        }

        var deliveries = keys.Select(async key =>
        {
            var result = results.TryGetValue(key, out var r) ? r : missing;
            try
            {
                await GrainFactory.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(_projectId, _type, key)).ApplyLookupResultAsync(result);
                return key;
            }
            catch (Exception ex)
            {
                LogDeliveryFailed(ex, _projectId, key.Length);
                return null;    // its journal record stays: the recovery queues the lookup again
            }
        });
        var delivered = (await Task.WhenAll(deliveries)).OfType<string>().ToList();
        if (purpose == MarketoCallPurpose.Realtime) await ForgetAsync(delivered, takenAt);
        // Not awaited: it only spares the periodic run a lookup, and the next batch must not wait for it (a database
        // that is slow to answer would hold every later lookup of this silo back).
        if (purpose == MarketoCallPurpose.Realtime && _type == LeadKeyType.Email && settings.PeriodicSync.Enabled)
            _ = MarkLookedUpAsync(keys, results);
        return null;
    }

    /// <summary>Deferred keys go to the project's backlog, which looks them up by itself once the budget allows (the
    /// quota's refusal says when; where Marketo itself refused, the backlog asks again shortly and the quota then
    /// knows). Returns the results marked as backlogged, or as they were where storing failed.</summary>
    private async Task<IReadOnlyDictionary<string, LeadLookupResult>> BacklogAsync(IReadOnlyList<string> keys,
        IReadOnlyDictionary<string, LeadLookupResult> results, QuotaPermit? denied)
    {
        var dueAt = time.GetUtcNow() + (denied is { RetryAfter: var wait } && wait > TimeSpan.Zero ? wait : TimeSpan.FromSeconds(30));
        try
        {
            await backlog.AddAsync(_projectId, _type, keys, dueAt);
            await GrainFactory.GetGrain<ILeadBacklogGrain>(GrainKeys.LeadBacklog(_projectId)).WakeAtAsync(dueAt);
        }
        catch (Exception ex)
        {
            LogBacklogFailed(ex, _projectId, keys.Count);
            return results;
        }
        return results.ToDictionary(kv => kv.Key, kv => kv.Value with { Backlogged = true }, StringComparer.Ordinal);
    }

    /// <summary>Emails a realtime lookup answered are fresh: the periodic run of the same interval skips them.</summary>
    private async Task MarkLookedUpAsync(IReadOnlyList<string> keys, IReadOnlyDictionary<string, LeadLookupResult> results)
    {
        var answered = keys.Where(k => results.TryGetValue(k, out var r) && r.Result is SyncResult.Synced or SyncResult.NotFound).ToList();
        if (answered.Count == 0) return;
        try
        {
            await periodicQueue.MarkLookedUpAsync(_projectId, answered, time.GetUtcNow());
        }
        catch (Exception ex)
        {
            // Only costs the periodic run a second lookup of these emails.
            LogMarkFailed(ex, _projectId, answered.Count);
        }
    }

    /// <summary>Removes the journal records of answered realtime lookups. Failing here only costs a later wake-up of
    /// keys that are no longer pending, which then remove their records themselves.</summary>
    private async Task ForgetAsync(IReadOnlyCollection<string> keys, DateTimeOffset takenAt)
    {
        try
        {
            await journal.ClearAsync(_projectId, _type, keys, takenAt);
        }
        catch (Exception ex)
        {
            LogForgetFailed(ex, _projectId, keys.Count);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project {ProjectId}: {Count} deferred keys could not be stored in the backlog; the next identify retries them")]
    private partial void LogBacklogFailed(Exception ex, string projectId, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project {ProjectId}: marking {Count} emails as looked up for the periodic sync failed")]
    private partial void LogMarkFailed(Exception ex, string projectId, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Project {ProjectId}: a lookup of {Count} keys threw")]
    private partial void LogLookupFailed(Exception ex, string projectId, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project {ProjectId}: clearing {Count} answered lookups from the journal failed")]
    private partial void LogForgetFailed(Exception ex, string projectId, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project {ProjectId}: handing a lookup result to its key failed (key of {Length} chars)")]
    private partial void LogDeliveryFailed(Exception ex, string projectId, int length);
}
