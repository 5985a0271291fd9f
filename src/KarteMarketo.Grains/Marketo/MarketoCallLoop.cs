using KarteMarketo.Grains.Quota;
using KarteMarketo.Marketo;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Marketo;

/// <summary>Where one call's permits come from: the instance's quota grain in the gateway, a stand-in in tests.</summary>
internal interface IMarketoPermits
{
    Task<QuotaPermit> AcquireAsync(CancellationToken cancellationToken);

    Task ReleaseAsync(Guid leaseId, MarketoCallOutcome outcome);
}

/// <summary>
/// The gateway's loop, on its own so that it can be tested without a cluster: permit → one attempt → release →
/// retry decision. Each attempt holds its own permit and gives it back before the back-off, so a waiting retry holds
/// no in-flight slot; a refused permit ends the call.
/// </summary>
internal sealed class MarketoCallLoop(MarketoRetryOptions options, TimeProvider time, ILogger logger)
{
    public async Task<MarketoCall<T>> RunAsync<T>(MarketoCallPurpose purpose, IMarketoPermits permits,
        Func<CancellationToken, Task<MarketoResult<T>>> attempt, CancellationToken cancellationToken)
    {
        MarketoResult<T>? last = null;
        MarketoOutcome? lastOutcome = null;
        for (var attempts = 0; ; attempts++)
        {
            var permit = await permits.AcquireAsync(cancellationToken);
            if (!permit.Granted)
            {
                QuotaMetrics.Denied(purpose, permit.Denial);
                // The first refusal defers the call (nothing was sent). A retry's refusal ends it with the transient
                // outcome of the attempt that did go out: that attempt is spent, and the caller's own back-off applies.
                return lastOutcome is null
                    ? new MarketoCall<T>(DeferredBy(permit), null, 0)
                    : new MarketoCall<T>(lastOutcome, last, attempts);
            }

            // Counted unless we learn otherwise: an attempt that threw may still have reached Marketo, and over-counting
            // is the safe side of a budget.
            var budget = MarketoCallOutcome.Counted;
            try
            {
                // The attempt must end before its lease could expire, or an expired lease would free a slot in use.
                using var deadline = new CancellationTokenSource(QuotaLedger.CallDeadline, time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
                last = await attempt(linked.Token);
                budget = MarketoGateway.OutcomeOf(last);
            }
            finally
            {
                QuotaMetrics.Called(purpose, budget);
                await ReleaseAsync(permits, permit.LeaseId, budget);
            }

            var outcome = MarketoOutcomes.Classify(last);
            if (outcome is not MarketoOutcome.RetryAfter retry) return new MarketoCall<T>(outcome, last, attempts + 1);

            var wait = options.BackoffFor(attempts, Random.Shared.NextDouble());
            if (retry.Delay > wait) wait = retry.Delay;
            lastOutcome = retry with { Delay = wait };
            if (attempts >= options.MaxRetries) return new MarketoCall<T>(lastOutcome, last, attempts + 1);

            logger.LogInformation("Marketo attempt {Attempt} ({Purpose}) failed transiently ({Code}); retrying in {Delay}",
                attempts + 1, purpose, retry.Error.Code, wait);
            if (wait > TimeSpan.Zero) await Task.Delay(wait, time, cancellationToken);
        }
    }

    /// <summary>Our quota's refusal, in the one encoding of "throttled".</summary>
    internal static MarketoOutcome.Deferred DeferredBy(QuotaPermit permit) =>
        new(permit.Denial switch
            {
                QuotaDenial.DailyBudget => DeferReason.DailyBudget,
                QuotaDenial.RateWindow => DeferReason.RateWindow,
                QuotaDenial.Concurrency => DeferReason.Concurrency,
                QuotaDenial.QuotaExhausted => DeferReason.QuotaExhausted,
                _ => DeferReason.BackingOff,
            },
            permit.RetryAfter > TimeSpan.Zero ? permit.RetryAfter : TimeSpan.Zero,
            new MarketoError("quota", permit.Denial.ToString()));

    private async Task ReleaseAsync(IMarketoPermits permits, Guid leaseId, MarketoCallOutcome outcome)
    {
        try
        {
            await permits.ReleaseAsync(leaseId, outcome);
        }
        catch (Exception ex)
        {
            // The lease expires on its own; failing the caller's call for it would hide the call's real result.
            logger.LogWarning(ex, "Releasing quota lease {LeaseId} ({Outcome}) failed; it will expire", leaseId, outcome);
        }
    }
}
