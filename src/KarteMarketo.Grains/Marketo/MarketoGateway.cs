using KarteMarketo.Grains.Quota;
using KarteMarketo.Marketo;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KarteMarketo.Grains.Marketo;

/// <summary>
/// Permit, one attempt, release, retry decision (<see cref="MarketoCallLoop"/>) against the quota grain of the
/// project's Marketo instance. Also notes which instances this silo calls, for the <see cref="MarketoUsageReconciler"/>.
/// </summary>
internal sealed class MarketoGateway(IGrainFactory grains, MarketoClientFactory clients, IOptions<MarketoRetryOptions> retries,
    MarketoInstancesInUse instances, TimeProvider time, ILogger<MarketoGateway> logger) : IMarketoGateway
{
    private readonly MarketoCallLoop _loop = new(retries.Value, time, logger);

    public Task<MarketoCall<T>> CallAsync<T>(string projectId, ProjectSettings settings, MarketoCallPurpose purpose,
        Func<IMarketoClient, MarketoConnection, CancellationToken, Task<MarketoResult<T>>> attempt,
        CancellationToken cancellationToken = default)
    {
        instances.Saw(settings.Marketo.InstanceId, time.GetUtcNow());
        var permits = new QuotaGrainPermits(grains.GetGrain<IMarketoQuotaGrain>(GrainKeys.Quota(settings.Marketo.InstanceId)),
            new QuotaRequest(purpose, settings.Quota, projectId));
        var connection = ConnectionOf(settings.Marketo);
        return _loop.RunAsync(purpose, permits, ct =>
        {
            return attempt(clients.Create(), connection, ct);
        }, cancellationToken);
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

    private sealed class QuotaGrainPermits(IMarketoQuotaGrain quota, QuotaRequest request) : IMarketoPermits
    {
        public Task<QuotaPermit> AcquireAsync(CancellationToken cancellationToken) => quota.AcquireAsync(request);

        public Task ReleaseAsync(Guid leaseId, MarketoCallOutcome outcome) => quota.ReleaseAsync(leaseId, outcome);
    }
}
