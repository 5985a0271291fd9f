using KarteMarketo.Grains.Storage;
using KarteMarketo.Marketo;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Quota;

/// <summary>
/// The budget of one Marketo instance, one activation in the whole cluster (keyed <c>q:{instance}</c>).
/// A thin shell over <see cref="QuotaLedger"/>: it persists reservations and the 607 stop, and takes Marketo's own
/// day count from the silos' <see cref="MarketoUsageReconciler"/>. It makes no call and awaits nothing but its own
/// storage, so its turns never interleave and need no lock.
/// </summary>
[GrainType("marketo-quota")]
public sealed class MarketoQuotaGrain(
    [PersistentState("quota", StorageNames.Grains)] IPersistentState<MarketoQuotaState> state,
    TimeProvider time,
    ILogger<MarketoQuotaGrain> logger) : Grain, IMarketoQuotaGrain
{
    /// <summary>How often Marketo's own count is read while the instance is in use.</summary>
    public static readonly TimeSpan ReconcileEvery = TimeSpan.FromMinutes(5);

    /// <summary>How often the reconcilers ask whether a reading is due. A refused usage read is tried again after its
    /// retry-after (at least this) rather than in five minutes, so that the Other purpose is still active (asked within
    /// the last minute) and rationing keeps its share of the window for it: a flood cannot starve the reconciliation.</summary>
    public static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(15);

    /// <summary>How often the forecast gauges are refreshed.</summary>
    private static readonly TimeSpan ForecastEvery = TimeSpan.FromSeconds(15);

    private QuotaLedger _ledger = null!;
    private DateTimeOffset _nextReconcileAt;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _ledger = new QuotaLedger(GrainKeys.ParseQuota(this.GetPrimaryKeyString()), time, state.RecordExists ? state.State : null);
        _nextReconcileAt = time.GetUtcNow() + ReconcileEvery;
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

    public Task<string?> ClaimUsageReadAsync()
    {
        var now = time.GetUtcNow();
        // A doubtful 607 just after midnight waits for this reading: it goes now, whatever the period says.
        if (_ledger.UsageCheckDue && _ledger.LastProjectId is { } doubtedBy)
        {
            _ledger.ClaimUsageCheck();
            return Task.FromResult<string?>(doubtedBy);
        }
        if (now < _nextReconcileAt || !_ledger.AskedSinceReconcile || _ledger.LastProjectId is not { } projectId)
            return Task.FromResult<string?>(null);
        // Claimed: the other silos' reconcilers hear "not due" until the next period (or the refusal's retry-after).
        _nextReconcileAt = now + ReconcileEvery;
        return Task.FromResult<string?>(projectId);
    }

    public async Task ReportUsageAsync(UsageReading reading)
    {
        if (reading.RetryAfter is { } retryAfter)
        {
            var wait = retryAfter < CheckEvery ? CheckEvery : retryAfter;
            _nextReconcileAt = time.GetUtcNow() + (wait < ReconcileEvery ? wait : ReconcileEvery);
            return;
        }
        if (reading is { Day: { } day, Total: { } total })
        {
            var usage = new DailyUsage(day, total);
            if (_ledger.ApplyMarketoUsage(usage))
                logger.LogInformation("Marketo counts {Total} calls today on {Instance}; our count was raised to it", total, _ledger.Instance);
            if (_ledger.SettleMidnightDoubt(usage))
            {
                logger.LogInformation("Marketo counts {Total} calls on {Date} on {Instance}: the 607 after midnight is settled",
                    total, day, _ledger.Instance);
                await PersistAsync(exact: false);
            }
        }
        _ledger.MarkReconciled();
    }

    private async Task PersistAsync(bool exact, CancellationToken cancellationToken = default)
    {
        var captured = _ledger.CaptureState(exact);
        state.State = captured;
        await state.WriteStateAsync(cancellationToken);
        _ledger.MarkPersisted(captured);
    }
}
