using KarteMarketo.Contracts.Outbox;
using KarteMarketo.Grains.Marketo;
using KarteMarketo.Grains.Projects;
using KarteMarketo.Marketo;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

using KarteMarketo.Grains.Flows.CustomActivities;
using KarteMarketo.Grains.Flows.LeadUpserts;

namespace KarteMarketo.Grains.Outbox;

/// <summary>
/// The drain loop both outbox dispatchers share: claim a batch (rows go <c>in_flight</c> under a fresh lease), let the
/// subclass send it, record each row's outcome, repeat until nothing is due, then sleep on a grain timer until the next
/// row is due. Reentrant so that wake-ups from the front door never wait behind a Marketo call; one drain runs at a time.
/// </summary>
[Reentrant]
public abstract partial class OutboxDispatcherGrain(
    IOutboxStore store,
    IProjectDirectory projects,
    TimeProvider time,
    IOptions<OutboxOptions> options,
    ILogger logger) : Grain, IOutboxDispatcherGrain
{
    private IGrainTimer? _timer;
    private DateTimeOffset? _nextRunAt;
    private Task? _drain;
    private DrainMode? _rerun;
    private int _addedSinceDrain;
    private int _callsMade;
    private string? _lastError;

    /// <summary>Outcomes of a batch Marketo already answered that could not be written (database down). Kept here and
    /// written before anything else is claimed, so a database outage after a send never turns into a resend.</summary>
    private (Guid LeaseId, IReadOnlyList<OutboxOutcome> Outcomes)? _unrecorded;
    // A batch was claimed but the database went away before it could be sent (or its outcome known): its rows are
    // still in flight under our lease and must go back to pending before the next claim, not after the lease runs out.
    private bool _strandedClaim;

    protected abstract OutboxKind Kind { get; }

    protected string ProjectId { get; private set; } = "";

    protected IOutboxStore Store => store;

    protected IProjectDirectory Projects => projects;

    protected TimeProvider Time => time;

    protected OutboxOptions Options => options.Value;

    protected ILogger Logger => logger;

    /// <summary>Sends one claimed batch and returns each row's outcome. <see cref="BatchResult.PauseFor"/> stops the
    /// drain for a while (the quota said no).</summary>
    protected abstract Task<BatchResult> SendBatchAsync(ProjectSettings settings, IReadOnlyList<OutboxRow> rows, Guid leaseId,
        CancellationToken cancellationToken);

    /// <summary>Counts a Marketo call made (diagnostics only).</summary>
    protected void CountCalls(int attempts) => _callsMade += attempts;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        ProjectId = GrainKeys.ParseOutboxDispatcher(this.GetPrimaryKeyString());
        _timer = this.RegisterGrainTimer(OnTimerAsync, new GrainTimerCreationOptions
        {
            DueTime = Timeout.InfiniteTimeSpan,
            Period = Timeout.InfiniteTimeSpan,
            Interleave = true,
            KeepAlive = true,
        });

        // This grain is the only claimer of its project's rows, so rows still in flight were claimed by an activation
        // that is gone (a crash or a restart): put them back now instead of waiting for their lease to run out.
        var recovered = await store.RecoverAsync(ProjectId, Kind, time.GetUtcNow(), cancellationToken);
        if (recovered > 0) LogRecovered(ProjectId, Kind, recovered);
        // Rows already due (the wake-up that activated us, or recovered ones) still get the batching delay, so the
        // first call is not spent on whatever happens to be stored at this instant.
        if (await store.NextDueAsync(ProjectId, Kind, cancellationToken) is { } next)
        {
            var earliest = time.GetUtcNow() + Options.BatchDelay;
            ScheduleAt(next > earliest ? next : earliest);
        }
        await base.OnActivateAsync(cancellationToken);
    }

    public Task WakeAsync(int added)
    {
        // The scan wakes us when rows are due or in flight. In flight while this activation runs no drain means they
        // were claimed by an activation that is gone without this one being new (a brief duplicate activation while
        // a silo failed, or a drain lost with it): put them back at the next drain instead of waiting out the lease.
        if (added == 0 && _drain is not { IsCompleted: false }) _strandedClaim = true;
        _addedSinceDrain += added;
        // A full batch goes at once; the rest waits up to the batching delay for company.
        if (_addedSinceDrain >= Options.BatchSize) StartDrain(DrainMode.FullBatches);
        ScheduleAt(time.GetUtcNow() + Options.BatchDelay);
        return Task.CompletedTask;
    }

    public Task<OutboxDispatcherStatus> GetStatusAsync() =>
        Task.FromResult(new OutboxDispatcherStatus(_drain is { IsCompleted: false }, _nextRunAt, _callsMade, _lastError));

    private Task OnTimerAsync(CancellationToken cancellationToken)
    {
        _nextRunAt = null;
        StartDrain(DrainMode.Everything);
        return Task.CompletedTask;
    }

    private void ScheduleAt(DateTimeOffset at)
    {
        if (_nextRunAt is { } scheduled && scheduled <= at) return;
        _nextRunAt = at;
        var due = at - time.GetUtcNow();
        _timer!.Change(due < TimeSpan.Zero ? TimeSpan.Zero : due, Timeout.InfiniteTimeSpan);
    }

    private void StartDrain(DrainMode mode)
    {
        if (_drain is { IsCompleted: false })
        {
            _rerun = _rerun is null ? mode : (DrainMode)Math.Max((int)_rerun, (int)mode);
            return;
        }
        // Started from grain code, so the loop runs on this activation's scheduler, interleaved with wake-ups.
        _drain = DrainAsync(mode);
    }

    private async Task DrainAsync(DrainMode mode)
    {
        try
        {
            DrainMode? next = mode;
            while (next is { } current)
            {
                _rerun = null;
                if (current == DrainMode.FullBatches) _addedSinceDrain = 0;
                var record = await projects.GetAsync(ProjectId);
                if (record is null)
                {
                    LogNoProject(ProjectId);
                    return;
                }
                if (await DrainBatchesAsync(record.Settings, current) is { } pause)
                {
                    ScheduleAt(time.GetUtcNow() + pause);
                    return;
                }
                next = _rerun;
            }

            // What is due now arrived during the drain: it gets its own batching delay, not an immediate small call.
            if (await store.NextDueAsync(ProjectId, Kind) is { } due)
            {
                var earliest = time.GetUtcNow() + Options.BatchDelay;
                ScheduleAt(due > earliest ? due : earliest);
            }
            _lastError = null;
        }
        catch (Exception ex)
        {
            _lastError = ex.Message;
            LogDrainFailed(ex, ProjectId, Kind);
            ScheduleAt(time.GetUtcNow() + Options.InitialBackoff);
        }
    }

    /// <summary>
    /// Drains due rows batch by batch; returns a pause when the quota said no. <see cref="DrainMode.FullBatches"/> only
    /// takes full batches; <see cref="DrainMode.Everything"/> takes what is due, but stops after a partial batch: rows
    /// that arrive meanwhile wait for their own batching delay instead of leaving in a trickle of small calls.
    /// </summary>
    private async Task<TimeSpan?> DrainBatchesAsync(ProjectSettings settings, DrainMode mode)
    {
        await RecordUnrecordedAsync();
        while (true)
        {
            var now = time.GetUtcNow();
            var leaseId = Guid.NewGuid();
            var minimum = mode == DrainMode.FullBatches ? Options.BatchSize : 1;
            var rows = await store.ClaimAsync(ProjectId, Kind, Options.BatchSize, minimum, leaseId, now, now + Options.LeaseDuration);
            if (rows.Count == 0) return null;

            BatchResult result;
            try
            {
                result = await SendBatchAsync(settings, rows, leaseId, CancellationToken.None);
            }
            catch (Storage.StoreUnavailableException)
            {
                _strandedClaim = true;
                throw;
            }
            catch (Exception ex)
            {
                // Our own failure (a grain call, a bug): count an attempt so that a poison batch ends up failed.
                LogBatchFailed(ex, ProjectId, Kind, rows.Count);
                var retryAt = time.GetUtcNow();
                result = new BatchResult(rows.Select(r => RetryOrFail(r, retryAt, "error", ex.Message)).ToList(), null);
            }
            try
            {
                await store.CompleteAsync(leaseId, result.Outcomes, time.GetUtcNow());
            }
            catch (Storage.StoreUnavailableException)
            {
                _unrecorded = (leaseId, result.Outcomes);
                throw;
            }
            if (result.PauseFor is { } pause) return pause;
            if (rows.Count < Options.BatchSize) return null;
        }
    }

    /// <summary>The last write before a batch goes to Marketo. Throws when a row no longer carries our lease: another
    /// activation put it back and may send it, so sending it here too could add it twice.</summary>
    protected async Task MarkSendingOrThrowAsync(Guid leaseId, long[] ids, CancellationToken cancellationToken)
    {
        var marked = await store.MarkSendingAsync(leaseId, ids, time.GetUtcNow(), cancellationToken);
        if (marked != ids.Length)
            throw new InvalidOperationException($"{ids.Length - marked} of {ids.Length} claimed rows were taken over before sending; the batch is not sent.");
    }

    private async Task RecordUnrecordedAsync()
    {
        if (_unrecorded is { } pending)
        {
            await store.CompleteAsync(pending.LeaseId, pending.Outcomes, time.GetUtcNow());
            _unrecorded = null;
        }
        if (_strandedClaim)
        {
            // This grain is the only claimer and no other drain runs now: every in-flight row is the stranded batch's
            // (rows it had marked as sending come back flagged as possible duplicates).
            var recovered = await store.RecoverAsync(ProjectId, Kind, time.GetUtcNow());
            _strandedClaim = false;
            if (recovered > 0) LogRecovered(ProjectId, Kind, recovered);
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        try
        {
            await RecordUnrecordedAsync();
        }
        catch (Exception ex) when (ex is Storage.StoreUnavailableException or OperationCanceledException)
        {
            // Lost with this activation: the next one puts the rows back, flagged as possible duplicates.
            LogDrainFailed(ex, ProjectId, Kind);
        }
        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <summary>A failed attempt: back to pending after the back-off, or failed with Marketo's code once the attempts are spent.</summary>
    protected OutboxOutcome RetryOrFail(OutboxRow row, DateTimeOffset now, string code, string message)
    {
        var attempts = row.Attempts + 1;
        return attempts >= Options.MaxAttempts
            ? new OutboxOutcome(row.Id, OutboxStatus.Failed, attempts, now) { ErrorCode = code, ErrorMessage = message }
            : new OutboxOutcome(row.Id, OutboxStatus.Pending, attempts, now + Options.BackoffFor(attempts))
                { ErrorCode = code, ErrorMessage = message };
    }

    /// <summary>Not an attempt (no permit, rate limits): back to pending, due after <paramref name="delay"/>.</summary>
    protected static OutboxOutcome Release(OutboxRow row, DateTimeOffset now, TimeSpan delay, string? code = null, string? message = null) =>
        new(row.Id, OutboxStatus.Pending, row.Attempts, now + (delay > TimeSpan.Zero ? delay : TimeSpan.FromSeconds(1)))
            { ErrorCode = code, ErrorMessage = message };

    /// <summary>The outcome of a call that did not complete, for every row of the call: deferred (our quota or Marketo's
    /// 606/615/607) is not the rows' fault, so they wait without spending an attempt; a transient failure that outlived
    /// the gateway's retries, or a refused request, spends one.</summary>
    protected IEnumerable<OutboxOutcome> CallFailed<T>(IEnumerable<OutboxRow> rows, MarketoCall<T> call, DateTimeOffset now) => call.Outcome switch
    {
        MarketoOutcome.Deferred deferred => rows.Select(r => Release(r, now, ThrottledFor(deferred), deferred.Error.Code, deferred.Error.Message)),
        MarketoOutcome.RetryAfter { Error: var error } => rows.Select(r => RetryOrFail(r, now, error.Code, error.Message)),
        MarketoOutcome.Failed { Error: var error } => rows.Select(r => RetryOrFail(r, now, error.Code, error.Message)),
        // A completed call without a readable value.
        _ => rows.Select(r => RetryOrFail(r, now, "unreadable", "Marketo's answer had no result")),
    };

    /// <summary>How long deferred rows wait: what the quota said, else the configured throttling delay.</summary>
    protected TimeSpan ThrottledFor(MarketoOutcome.Deferred deferred) =>
        deferred.Delay > TimeSpan.Zero ? deferred.Delay : Options.ThrottledDelay;

    [LoggerMessage(Level = LogLevel.Information, Message = "Outbox {ProjectId}/{Kind}: {Count} in-flight row(s) of a previous activation put back")]
    private partial void LogRecovered(string projectId, OutboxKind kind, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Outbox {ProjectId}: the project does not exist; rows stay pending")]
    private partial void LogNoProject(string projectId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Outbox {ProjectId}/{Kind}: drain failed; retrying later")]
    private partial void LogDrainFailed(Exception ex, string projectId, OutboxKind kind);

    [LoggerMessage(Level = LogLevel.Error, Message = "Outbox {ProjectId}/{Kind}: a batch of {Count} failed in our code")]
    private partial void LogBatchFailed(Exception ex, string projectId, OutboxKind kind, int count);
}

/// <summary>Why a drain runs: a full batch is waiting, or a timer found rows due.</summary>
public enum DrainMode
{
    FullBatches = 0,
    Everything = 1,
}

/// <summary>What became of a batch: an outcome per row, and a pause when the quota said no.</summary>
public sealed record BatchResult(IReadOnlyList<OutboxOutcome> Outcomes, TimeSpan? PauseFor);
