using KarteMarketo.Marketo;

namespace KarteMarketo.Grains.Marketo;

/// <summary>
/// The only way grains reach Marketo: takes a permit from the instance's <see cref="IMarketoQuotaGrain"/>,
/// makes the call through <see cref="IMarketoClient"/>, and returns the permit with the call's outcome.
/// No code path may call <see cref="IMarketoClient"/> around it.
/// </summary>
public interface IMarketoGateway
{
    /// <summary>Runs <paramref name="call"/> under one permit. When no permit is granted the call is not made and
    /// <see cref="GatewayResult{T}.Permit"/> says why and when to try again.</summary>
    Task<GatewayResult<T>> CallAsync<T>(string projectId, ProjectSettings settings, MarketoCallPurpose purpose,
        Func<IMarketoClient, MarketoConnection, CancellationToken, Task<MarketoResult<T>>> call,
        CancellationToken cancellationToken = default);
}

/// <summary>Either a denied permit (no call made) or the call's result.</summary>
public sealed record GatewayResult<T>(QuotaPermit Permit, MarketoResult<T>? Result)
{
    public bool Denied => !Permit.Granted;
}
