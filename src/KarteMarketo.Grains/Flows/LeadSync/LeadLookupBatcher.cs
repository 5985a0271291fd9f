using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Projects;
using KarteMarketo.Marketo;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>
/// Per silo, project and key type (<c>b:{project}/{email|cookie}</c>): gathers lookups for up to
/// <c>batchDelayMilliseconds</c> or 300 keys, makes one Marketo call for them and hands each result to its key grain.
/// Shaped after GPSTracker's push notifier: a queue in memory, flushed by a grain timer, one flush at a time, and a
/// last flush on deactivation. A delay of 0 is "flush now" through the same queue, one key per call (the original
/// plugin's behaviour, kept for comparison).
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
    private Task _flushTask = Task.CompletedTask;
    private int _batchSize = LeadLookupExecutor.MaxKeysPerCall;

    /// <summary>A refusal that lifts within this is waited out; a longer one (the day's budget) defers the keys.</summary>
    private static readonly TimeSpan MaxRetryWait = TimeSpan.FromMinutes(1);
    private IGrainTimer? _timer;

    /// <summary>Keys in arrival order, each once, with when it arrived (the batch's age is its oldest key's).</summary>
    private sealed class OrderedKeys
    {
        private readonly List<string> _order = [];
        private readonly Dictionary<string, DateTimeOffset> _arrived = new(StringComparer.Ordinal);
        public int Count => _order.Count;
        public DateTimeOffset Oldest => _arrived[_order[0]];
        public void Add(string key, DateTimeOffset at) { if (_arrived.TryAdd(key, at)) _order.Add(key); }
        public void Requeue(List<string> keys, DateTimeOffset at)
        {
            var fresh = keys.Where(k => _arrived.TryAdd(k, at)).ToList();
            _order.InsertRange(0, fresh);
        }

        public List<string> Take(int max)
        {
            var taken = _order.Take(max).ToList();
            _order.RemoveRange(0, taken.Count);
            foreach (var key in taken) _arrived.Remove(key);
            return taken;
        }
    }

    /// <summary>
    /// A batch whose oldest key's delay is up waits up to <see cref="FillGrace"/> of the delay longer when, at the pace
    /// its keys came in, it fills within that time: <c>count ≥ 300 / (1 + grace)</c>, 240 keys. At a steady 300 identify/s
    /// the 300th key and the first key's deadline come together, and where keys reach the batcher late (the first
    /// second of a burst, a busy host) a call of 253 or 299 would leave a remainder for a call of its own (measured:
    /// 21 calls for 6,000 keys with 5 % grace at 270 keys). The wait ends as soon as the batch is full.
    /// </summary>
    private const double FillGrace = 0.25;
    private const int NearlyFull = (int)(LeadLookupExecutor.MaxKeysPerCall / (1 + FillGrace));

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_projectId, _type) = GrainKeys.ParseLookupBatcher(this.GetPrimaryKeyString());
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // Flush the rest now. Keys that must wait for a permit cannot wait here: realtime ones are queued again from
        // the pending-lookup journal, and outbox lookups time out in their dispatcher, which retries them.
        await FlushLoopAsync(FlushScope.Everything);
    }

    public async Task EnqueueAsync(LeadLookupRequest request)
    {
        var settings = (await directory.GetAsync(_projectId))?.Settings;
        if (settings is null) return;   // the project is gone

        var delay = TimeSpan.FromMilliseconds(settings.RealtimeSync.BatchDelayMilliseconds);
        // No delay: every key is a full batch of one, so it goes at once (behind a call in flight) through the same loop.
        _batchSize = delay <= TimeSpan.Zero ? 1 : LeadLookupExecutor.MaxKeysPerCall;

        if (!_queues.TryGetValue(request.Purpose, out var queue)) _queues[request.Purpose] = queue = new OrderedKeys();
        queue.Add(request.Value, time.GetUtcNow());

        if (_queues.Values.Any(q => q.Count >= _batchSize))
            StartFlush(FlushScope.FullBatches);   // a full batch need not wait for the timer
        else if (_timer is null)
            ScheduleTimer(delay);
    }

    /// <summary>When a queue's batch goes without being full: its oldest key's delay is up (a little later where the
    /// batch is nearly full, see <see cref="NearlyFull"/>).</summary>
    private static DateTimeOffset DueAt(OrderedKeys queue, TimeSpan delay) =>
        queue.Oldest + (queue.Count >= NearlyFull ? delay * (1 + FillGrace) : delay);

    /// <summary>The timer for the earliest due batch (nothing when every queue is empty).</summary>
    private void ScheduleTimer(TimeSpan delay)
    {
        var queued = _queues.Values.Where(q => q.Count > 0).ToList();
        if (queued.Count == 0) return;
        var wait = queued.Min(q => DueAt(q, delay)) - time.GetUtcNow();
        _timer?.Dispose();
        _timer = this.RegisterGrainTimer(OnTimerAsync,
            new GrainTimerCreationOptions(wait > TimeSpan.Zero ? wait : TimeSpan.FromMilliseconds(1), Timeout.InfiniteTimeSpan) { Interleave = true });
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
        /// <summary>Only full batches (300 keys; one with no batch delay).</summary>
        FullBatches,
        /// <summary>Full batches, and the batches whose oldest key's delay is over (see <see cref="DueAt"/>), each
        /// filled up to 300 with the keys behind it in arrival order. Younger keys left over wait for their own time, so
        /// that they gather into full batches instead of riding along in small ones.</summary>
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
        while (true)
        {
            var settings = (await directory.GetAsync(_projectId))?.Settings;
            if (settings is null) return;
            var delay = TimeSpan.FromMilliseconds(Math.Max(1, settings.RealtimeSync.BatchDelayMilliseconds));
            var now = time.GetUtcNow();
            var next = _queues.FirstOrDefault(q => q.Value.Count >= _batchSize
                || (q.Value.Count > 0 && (scope == FlushScope.Everything || (scope == FlushScope.Due && DueAt(q.Value, delay) <= now))));
            if (next.Value is null) break;
            var keys = next.Value.Take(_batchSize);
            if (await LookupAndDeliverAsync(settings, keys, next.Key) is { } retryAfter)
            {
                // A short wait (rate window, in-flight slots): the keys go back to the front and wait, undelivered.
                next.Value.Requeue(keys, now - delay);
                _timer?.Dispose();
                _timer = this.RegisterGrainTimer(OnTimerAsync, new GrainTimerCreationOptions(retryAfter, Timeout.InfiniteTimeSpan) { Interleave = true });
                return;
            }
            // Keys that became due during the call go in the next round of this loop.
            if (scope == FlushScope.FullBatches) scope = FlushScope.Due;
        }
        // Keys left over (a batch not yet due) wait for their oldest key's time.
        if (_timer is null && (await directory.GetAsync(_projectId))?.Settings is { } s)
            ScheduleTimer(TimeSpan.FromMilliseconds(Math.Max(1, s.RealtimeSync.BatchDelayMilliseconds)));
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
            if (outcome.Deferred is { Reason: var reason, Delay: var wait } && reason.IsShortWait() && wait <= MaxRetryWait)
                return wait > TimeSpan.Zero ? wait : TimeSpan.FromMilliseconds(100);
            results = outcome.Results;
            if (results.Count > 0 && results.Values.All(r => r.Result == SyncResult.Deferred))
                results = await BacklogAsync(keys, results, outcome.Deferred);
        }
        catch (Exception ex)
        {
            // Every key must hear back, or it would stay pending until its lookup is considered lost.
            LogLookupFailed(ex, _projectId, keys.Count);
            var failed = new LeadLookupResult(SyncResult.Failed, null, null, $"lookup failed: {ex.GetType().Name}", purpose, time.GetUtcNow());
            results = keys.ToDictionary(k => k, _ => failed, StringComparer.Ordinal);
        }

        var (delivered, undelivered) = await LookupResultDelivery.DeliverAsync(GrainFactory, _projectId, _type, keys, results, missing);
        // A failed delivery keeps its journal record: the recovery queues the lookup again.
        foreach (var (key, error) in undelivered) LogDeliveryFailed(error, _projectId, key.Length);
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
        IReadOnlyDictionary<string, LeadLookupResult> results, MarketoOutcome.Deferred? deferred)
    {
        var dueAt = time.GetUtcNow() + (deferred is { Delay: var wait } && wait > TimeSpan.Zero ? wait : TimeSpan.FromSeconds(30));
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
