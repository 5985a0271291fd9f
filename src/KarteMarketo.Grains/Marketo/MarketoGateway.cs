using KarteMarketo.Grains.Quota;
using KarteMarketo.Marketo;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Marketo;

/// <summary>
/// Permit, call, release: the quota grain of the project's Marketo instance decides whether the call may go out;
/// the lease always goes back, with what Marketo answered, even when the call throws or is cancelled.
/// </summary>
internal sealed class MarketoGateway(IGrainFactory grains, IServiceProvider services, TimeProvider time,
    ILogger<MarketoGateway> logger) : IMarketoGateway
{
    public async Task<GatewayResult<T>> CallAsync<T>(string projectId, ProjectSettings settings, MarketoCallPurpose purpose,
        Func<IMarketoClient, MarketoConnection, CancellationToken, Task<MarketoResult<T>>> call,
        CancellationToken cancellationToken = default)
    {
        var quota = grains.GetGrain<IMarketoQuotaGrain>(GrainKeys.Quota(settings.Marketo.InstanceId));
        var request = new QuotaRequest(purpose, settings.Quota, projectId);
        var permit = await quota.AcquireAsync(request);
        if (!permit.Granted)
        {
            QuotaMetrics.Denied(purpose, permit.Denial);
            return new GatewayResult<T>(permit, null);
        }
        var leases = new LeaseChain(this, quota, request, permit.LeaseId);
        var connection = ConnectionOf(settings.Marketo) with { AttemptBudget = leases };

        // Counted unless we learn otherwise: a call that threw may still have reached Marketo, and over-counting
        // is the safe side of a budget.
        var outcome = MarketoCallOutcome.Counted;
        try
        {
            // The call must end before its lease could expire, or an expired lease would free a slot that is in use.
            using var deadline = new CancellationTokenSource(QuotaLedger.CallDeadline, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
            // A fresh typed client per call: IHttpClientFactory rotates handlers only for clients it hands out anew.
            var client = services.GetRequiredService<IMarketoClient>();
            var result = await call(client, connection, linked.Token);
            outcome = OutcomeOf(result);
            return new GatewayResult<T>(permit, result);
        }
        finally
        {
            QuotaMetrics.Called(purpose, outcome);
            if (leases.Current is { } current) await ReleaseAsync(quota, current, outcome);
        }
    }

    private async Task ReleaseAsync(IMarketoQuotaGrain quota, Guid leaseId, MarketoCallOutcome outcome)
    {
        try
        {
            await quota.ReleaseAsync(leaseId, outcome);
        }
        catch (Exception ex)
        {
            // The lease expires on its own; failing the caller's call for it would hide the call's real result.
            logger.LogWarning(ex, "Releasing quota lease {LeaseId} ({Outcome}) failed; it will expire", leaseId, outcome);
        }
    }

    /// <summary>
    /// The permits of one logical call: the client's transient retries are calls Marketo may count, so each one
    /// returns the previous lease (counted: a 5xx or a time-out may have been counted) and takes a new permit.
    /// </summary>
    private sealed class LeaseChain(MarketoGateway gateway, IMarketoQuotaGrain quota, QuotaRequest request, Guid first)
        : IMarketoAttemptBudget
    {
        public Guid? Current { get; private set; } = first;

        public async ValueTask<bool> TryBeginRetryAsync(CancellationToken cancellationToken)
        {
            if (Current is { } previous)
            {
                QuotaMetrics.Called(request.Purpose, MarketoCallOutcome.Counted);
                await gateway.ReleaseAsync(quota, previous, MarketoCallOutcome.Counted);
                Current = null;
            }
            var permit = await quota.AcquireAsync(request);
            if (!permit.Granted)
            {
                QuotaMetrics.Denied(request.Purpose, permit.Denial);
                return false;
            }
            Current = permit.LeaseId;
            return true;
        }
    }

    /// <summary>Where and as whom a project calls Marketo.</summary>
    public static MarketoConnection ConnectionOf(MarketoSettings marketo) =>
        new(marketo.ClientId, marketo.ClientSecret, new Uri(marketo.Endpoint), new Uri(marketo.Identity));

    /// <summary>What a call's result means for the budget.</summary>
    public static MarketoCallOutcome OutcomeOf<T>(MarketoResult<T> result) => result.Kind switch
    {
        MarketoResultKind.RateLimited => MarketoCallOutcome.RateLimited,
        MarketoResultKind.ConcurrencyLimited => MarketoCallOutcome.ConcurrencyLimited,
        MarketoResultKind.DailyQuotaExhausted => MarketoCallOutcome.DailyQuotaExhausted,
        _ => result.CountedByMarketo ? MarketoCallOutcome.Counted : MarketoCallOutcome.NotCounted,
    };
}
