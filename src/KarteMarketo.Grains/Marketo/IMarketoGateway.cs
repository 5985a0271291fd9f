using KarteMarketo.Marketo;

namespace KarteMarketo.Grains.Marketo;

/// <summary>
/// The only way to Marketo, for grains and background services alike: for every attempt it takes a permit from the
/// instance's <see cref="IMarketoQuotaGrain"/>, makes exactly one attempt through <see cref="IMarketoClient"/>,
/// returns the permit with what Marketo answered, and decides from <see cref="MarketoOutcomes.Classify{T}"/> whether
/// to try again (transient failures only, each retry under a permit of its own). No code path may call
/// <see cref="IMarketoClient"/> around it.
/// </summary>
public interface IMarketoGateway
{
    /// <summary>Runs <paramref name="attempt"/> once per permit until it completes, is deferred, fails, or the retries
    /// are spent. The delegate runs once per attempt, so anything it writes before the call must be repeatable.
    /// When the first permit is refused nothing is sent and the outcome is <see cref="MarketoOutcome.Deferred"/>.</summary>
    Task<MarketoCall<T>> CallAsync<T>(string projectId, ProjectSettings settings, MarketoCallPurpose purpose,
        Func<IMarketoClient, MarketoConnection, CancellationToken, Task<MarketoResult<T>>> attempt,
        CancellationToken cancellationToken = default);
}

/// <summary>What a call through the gateway came to: the <see cref="Outcome"/> to switch on, the last attempt's
/// result (null when no attempt was made) and how many attempts went out.</summary>
public sealed record MarketoCall<T>(MarketoOutcome Outcome, MarketoResult<T>? Result, int Attempts)
{
    /// <summary>The value of a <see cref="MarketoOutcome.Completed"/> call.</summary>
    public T? Value => Outcome is MarketoOutcome.Completed && Result is { } result ? result.Value : default;

    /// <summary>The last attempt's response-level errors (1006's field name is read from these).</summary>
    public IReadOnlyList<MarketoError> Errors => Result?.Errors ?? [];
}
