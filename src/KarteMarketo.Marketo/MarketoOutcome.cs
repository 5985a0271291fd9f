namespace KarteMarketo.Marketo;

/// <summary>
/// What a Marketo call came to, as every caller sees it: a closed set that callers switch on. The one encoding of
/// "throttled" is <see cref="Deferred"/>, whether our own quota refused the permit or Marketo answered 606/615/607.
/// </summary>
public abstract record MarketoOutcome
{
    private MarketoOutcome() { }

    /// <summary>Marketo did the call; the value is in the result.</summary>
    public sealed record Completed : MarketoOutcome
    {
        /// <summary>The one instance.</summary>
        public static readonly Completed Instance = new();
    }

    /// <summary>A transient failure (502, 604, 608, 611, 713, HTTP 5xx, a time-out, no connection): the same call may
    /// work later. <paramref name="Delay"/> is the least wait before trying again (zero: Marketo gave no hint).</summary>
    public sealed record RetryAfter(TimeSpan Delay, MarketoError Error) : MarketoOutcome;

    /// <summary>Throttled: not the request's fault and not an attempt spent. Wait <paramref name="Delay"/> (zero: the
    /// caller's own throttling delay) and ask again.</summary>
    public sealed record Deferred(DeferReason Reason, TimeSpan Delay, MarketoError Error) : MarketoOutcome;

    /// <summary>The request is wrong (or the credentials are): repeating it as it is will not help.
    /// <see cref="CredentialsRefused"/> tells a refused client id/secret (601/602 after a fresh token, identity 401)
    /// from a wrong request, since fixing the settings makes the same request work.</summary>
    public sealed record Failed(MarketoError Error, bool CredentialsRefused = false) : MarketoOutcome
    {
        /// <summary>Marketo's code (a string, as Marketo sends it), or ours for calls that never went out.</summary>
        public string Code => Error.Code;
    }
}

/// <summary>Why a call was <see cref="MarketoOutcome.Deferred"/>: our quota's refusals first, then Marketo's own.</summary>
public enum DeferReason
{
    /// <summary>Our quota: the day's budget (less the reserve) is spent, or this purpose's share of it.</summary>
    DailyBudget = 0,
    /// <summary>Our quota: the 20-second window is full.</summary>
    RateWindow = 1,
    /// <summary>Our quota: every in-flight slot is taken.</summary>
    Concurrency = 2,
    /// <summary>Our quota: Marketo answered 607 earlier today; nothing until the instance's midnight.</summary>
    QuotaExhausted = 3,
    /// <summary>Our quota: Marketo answered 606/615 recently; slowing down.</summary>
    BackingOff = 4,
    /// <summary>Marketo answered 606 (rate limit).</summary>
    MarketoRateLimited = 5,
    /// <summary>Marketo answered 615 (concurrency limit).</summary>
    MarketoConcurrencyLimited = 6,
    /// <summary>Marketo answered 607 (daily quota reached).</summary>
    MarketoDailyQuota = 7,
}

/// <summary>The one classifier: Marketo's answer (or the transport's failure) to its <see cref="MarketoOutcome"/>.</summary>
public static class MarketoOutcomes
{
    /// <summary>Classifies one attempt's result. The code is the first response-level error's (facts §5).</summary>
    public static MarketoOutcome Classify<T>(MarketoResult<T> result)
    {
        if (result.Kind == MarketoResultKind.Success) return MarketoOutcome.Completed.Instance;
        var error = result.Errors.Count > 0 ? result.Errors[0] : new MarketoError(result.Kind.ToString(), $"Marketo call ended with {result.Kind}");
        return result.Kind switch
        {
            MarketoResultKind.Transient => new MarketoOutcome.RetryAfter(TimeSpan.Zero, error),
            MarketoResultKind.RateLimited => new MarketoOutcome.Deferred(DeferReason.MarketoRateLimited, TimeSpan.Zero, error),
            MarketoResultKind.ConcurrencyLimited => new MarketoOutcome.Deferred(DeferReason.MarketoConcurrencyLimited, TimeSpan.Zero, error),
            MarketoResultKind.DailyQuotaExhausted => new MarketoOutcome.Deferred(DeferReason.MarketoDailyQuota, TimeSpan.Zero, error),
            MarketoResultKind.AuthenticationFailed => new MarketoOutcome.Failed(error, CredentialsRefused: true),
            _ => new MarketoOutcome.Failed(error),
        };
    }

    /// <summary>Whether a deferral is our own quota's (no call was made) rather than Marketo's answer.</summary>
    public static bool IsOurQuota(this DeferReason reason) => reason <= DeferReason.BackingOff;

    /// <summary>Whether the wait is short by nature (a window, a slot, a back-off), as opposed to the day's budget.</summary>
    public static bool IsShortWait(this DeferReason reason) =>
        reason is DeferReason.RateWindow or DeferReason.Concurrency or DeferReason.BackingOff;
}
