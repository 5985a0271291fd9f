using KarteMarketo.Grains.Marketo;
using KarteMarketo.Grains.Projects;
using KarteMarketo.Grains.Storage;
using KarteMarketo.Marketo;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Quota;

/// <summary>
/// The budget of one Marketo instance, one activation in the whole cluster (keyed <c>q:{instance}</c>).
/// A thin shell over <see cref="QuotaLedger"/>: it persists reservations and the 607 stop, and every few minutes
/// reconciles the day's count with Marketo's <c>stats/usage.json</c> under a permit of its own.
/// </summary>
[GrainType("marketo-quota")]
public sealed class MarketoQuotaGrain(
    [PersistentState("quota", StorageNames.Grains)] IPersistentState<MarketoQuotaState> state,
    TimeProvider time,
    IServiceProvider services,
    IProjectDirectory projects,
    ILogger<MarketoQuotaGrain> logger) : Grain, IMarketoQuotaGrain
{
    /// <summary>How often Marketo's own count is read while the instance is in use.</summary>
    public static readonly TimeSpan ReconcileEvery = TimeSpan.FromMinutes(5);

    /// <summary>How often the timer looks whether a reconciliation is due. A refused usage read is tried again after
    /// its retry-after rather than in five minutes, so that the Other purpose is still active (asked within the last
    /// minute) and rationing keeps its share of the window for it: a flood cannot starve the reconciliation.</summary>
    private static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(15);

    /// <summary>How often the forecast gauges are refreshed.</summary>
    private static readonly TimeSpan ForecastEvery = TimeSpan.FromSeconds(15);

    // One write at a time: the reconciliation timer interleaves with permits, and both may need a reservation.
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private QuotaLedger _ledger = null!;
    private bool _reconciling;
    private DateTimeOffset _nextReconcileAt;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var key = this.GetPrimaryKeyString();
        var instance = key.StartsWith("q:", StringComparison.Ordinal) ? key[2..] : key;
        _ledger = new QuotaLedger(instance, time, state.RecordExists ? state.State : null);
        // Interleaving: the usage call may take seconds; permits must not wait behind it.
        _nextReconcileAt = time.GetUtcNow() + ReconcileEvery;
        this.RegisterGrainTimer(ReconcileAsync, new GrainTimerCreationOptions(CheckEvery, CheckEvery) { Interleave = true });
        // The forecast gauges: alerts need no browser and no call to GET …/quota.
        this.RegisterGrainTimer(() =>
        {
            QuotaMetrics.Forecast(_ledger.Snapshot(null));
            return Task.CompletedTask;
        }, new GrainTimerCreationOptions(TimeSpan.Zero, ForecastEvery));
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        QuotaMetrics.ForgetForecast(_ledger.Instance);
        // A graceful exit stores the exact count, so a deactivation does not waste the reserved block.
        if (_ledger.InFlight > 0) return;
        try
        {
            await PersistAsync(exact: true, cancellationToken);
        }
        catch (Exception ex)
        {
            // The reservation already stored stands, so nothing is lost: at worst a block is counted twice.
            logger.LogInformation(ex, "Could not store the exact quota count of {Instance} on deactivation ({Reason})",
                _ledger.Instance, reason.ReasonCode);
        }
    }

    public async Task<QuotaPermit> AcquireAsync(QuotaRequest request)
    {
        while (true)
        {
            var decision = _ledger.Acquire(request);
            if (decision.Permit is { } permit) return permit;
            await PersistAsync(exact: false);
        }
    }

    public async Task ReleaseAsync(Guid leaseId, MarketoCallOutcome outcome)
    {
        if (_ledger.Release(leaseId, outcome))
        {
            logger.LogWarning("Marketo instance {Instance} answered 607 (daily quota reached): no calls until the Central midnight",
                _ledger.Instance);
            await PersistAsync(exact: false);
        }
    }

    public Task<QuotaSnapshot> GetSnapshotAsync(QuotaSettings limits) => Task.FromResult(_ledger.Snapshot(limits));

    private async Task PersistAsync(bool exact, CancellationToken cancellationToken = default)
    {
        await _writeGate.WaitAsync(cancellationToken);
        try
        {
            var captured = _ledger.CaptureState(exact);
            state.State = captured;
            await state.WriteStateAsync(cancellationToken);
            _ledger.MarkPersisted(captured);
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary>Raises the day's count to Marketo's own (other integrations spend the same quota). The usage call
    /// is a Marketo call like any other: it takes a permit (purpose Other) and is skipped when none is granted.</summary>
    private async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_reconciling || now < _nextReconcileAt || !_ledger.AskedSinceReconcile || _ledger.LastProjectId is not { } projectId) return;
        _reconciling = true;
        _nextReconcileAt = now + ReconcileEvery;
        try
        {
            var record = await projects.GetAsync(projectId, cancellationToken);
            if (record is null || record.Settings.Marketo.InstanceId != _ledger.Instance) return;

            // The project's own limits: the ledger keeps them per project and takes the strictest itself.
            var request = new QuotaRequest(MarketoCallPurpose.Other, record.Settings.Quota, projectId);
            var permit = await AcquireAsync(request);
            if (!permit.Granted)
            {
                QuotaMetrics.Denied(MarketoCallPurpose.Other, permit.Denial);
                var retryAfter = permit.RetryAfter < CheckEvery ? CheckEvery : permit.RetryAfter;
                _nextReconcileAt = now + (retryAfter < ReconcileEvery ? retryAfter : ReconcileEvery);
                return;
            }

            var outcome = MarketoCallOutcome.Counted;
            // The client's retries are calls too: each takes a permit of its own from this ledger, like the gateway's.
            var attempts = new UsageReadAttempts(this, request, permit.LeaseId);
            try
            {
                using var deadline = new CancellationTokenSource(QuotaLedger.CallDeadline, time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
                var client = services.GetRequiredService<IMarketoClient>();
                var connection = MarketoGateway.ConnectionOf(record.Settings.Marketo) with { AttemptBudget = attempts };
                var usage = await client.GetDailyUsageAsync(connection, linked.Token);
                outcome = MarketoGateway.OutcomeOf(usage);
                if (usage is { IsSuccess: true, Value: { } daily } && _ledger.ApplyMarketoUsage(daily))
                {
                    logger.LogInformation("Marketo counts {Total} calls today on {Instance}; our count was raised to it",
                        daily.Total, _ledger.Instance);
                }
                _ledger.MarkReconciled();
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Reading Marketo's usage for {Instance} failed", _ledger.Instance);
            }
            finally
            {
                QuotaMetrics.Called(MarketoCallPurpose.Other, outcome);
                if (attempts.Current is { } current) await ReleaseAsync(current, outcome);
            }
        }
        finally
        {
            _reconciling = false;
        }
    }

    /// <summary>The usage read's permits: a retry hands back the previous attempt's lease (counted: it may have reached
    /// Marketo) and needs a fresh permit, asked of this grain directly since the read runs inside it.</summary>
    private sealed class UsageReadAttempts(MarketoQuotaGrain grain, QuotaRequest request, Guid first) : IMarketoAttemptBudget
    {
        public Guid? Current { get; private set; } = first;

        public async ValueTask<bool> TryBeginRetryAsync(CancellationToken cancellationToken)
        {
            if (Current is { } previous)
            {
                QuotaMetrics.Called(request.Purpose, MarketoCallOutcome.Counted);
                await grain.ReleaseAsync(previous, MarketoCallOutcome.Counted);
                Current = null;
            }
            var permit = await grain.AcquireAsync(request);
            if (!permit.Granted)
            {
                QuotaMetrics.Denied(request.Purpose, permit.Denial);
                return false;
            }
            Current = permit.LeaseId;
            return true;
        }
    }
}
