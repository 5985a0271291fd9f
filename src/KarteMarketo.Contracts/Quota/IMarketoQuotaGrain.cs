namespace KarteMarketo.Contracts.Quota;

/// <summary>
/// The API budget of one Marketo instance (keyed <c>q:{instance}</c>), shared by every project and silo that
/// calls it. Every Marketo call takes a permit here first and returns it with the call's outcome.
/// </summary>
[Alias("KarteMarketo.IMarketoQuotaGrain")]
public interface IMarketoQuotaGrain : IGrainWithStringKey
{
    /// <summary>Asks for one call. A granted permit holds a lease on one of the in-flight slots until
    /// <see cref="ReleaseAsync"/> or until the lease expires (its holder died).</summary>
    [Alias("AcquireAsync")]
    Task<QuotaPermit> AcquireAsync(QuotaRequest request);

    /// <summary>Returns a lease with what Marketo answered, so the grain can slow down (606/615),
    /// stop until the reset (607) or not count the call (601/602 and the like).</summary>
    [Alias("ReleaseAsync")]
    Task ReleaseAsync(Guid leaseId, MarketoCallOutcome outcome);

    /// <summary>The day's figures for <c>GET …/quota</c>.</summary>
    [Alias("GetSnapshotAsync")]
    Task<QuotaSnapshot> GetSnapshotAsync(QuotaSettings limits);

    /// <summary>Asked by each silo's usage reconciler: when Marketo's own count is due to be read (every few minutes
    /// while the instance is in use), the project to read it as; otherwise null. A claim moves the next reading on,
    /// so only one silo reads per period.</summary>
    [Alias("ClaimUsageReadAsync")]
    Task<string?> ClaimUsageReadAsync();

    /// <summary>What the claimed reading came to. The grain makes no Marketo call itself.</summary>
    [Alias("ReportUsageAsync")]
    Task ReportUsageAsync(UsageReading reading);
}

/// <summary>Marketo's <c>stats/usage.json</c> as the reconciler read it: the day's total (<see cref="Day"/> and
/// <see cref="Total"/>), or no figure after a failed call, or <see cref="RetryAfter"/> when no permit was granted.</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.UsageReading")]
public sealed record UsageReading(
    [property: Id(0)] DateOnly? Day,
    [property: Id(1)] int? Total,
    [property: Id(2)] TimeSpan? RetryAfter)
{
    public static UsageReading Read(DateOnly day, int total) => new(day, total, null);
    public static UsageReading NoFigure { get; } = new(null, null, null);
    public static UsageReading Refused(TimeSpan retryAfter) => new(null, null, retryAfter);
}

/// <summary>What a Marketo call is for; the day is rationed between these.</summary>
public enum MarketoCallPurpose
{
    Realtime = 0,
    Periodic = 1,
    Activities = 2,
    Leads = 3,
    Other = 4,
}

[GenerateSerializer, Immutable, Alias("KarteMarketo.QuotaRequest")]
public sealed record QuotaRequest(
    [property: Id(0)] MarketoCallPurpose Purpose,
    [property: Id(1)] QuotaSettings Limits,
    [property: Id(2)] string ProjectId);

public enum QuotaDenial
{
    None = 0,
    /// <summary>The day's budget (less the reserve) is spent, or this purpose's share of it under contention.</summary>
    DailyBudget = 1,
    /// <summary>The 20-second window is full.</summary>
    RateWindow = 2,
    /// <summary>All in-flight slots are leased.</summary>
    Concurrency = 3,
    /// <summary>Marketo answered 607: nothing more until the instance's midnight.</summary>
    QuotaExhausted = 4,
    /// <summary>Marketo answered 606/615 recently: slowing down.</summary>
    BackingOff = 5,
}

[GenerateSerializer, Immutable, Alias("KarteMarketo.QuotaPermit")]
public sealed record QuotaPermit(
    [property: Id(0)] bool Granted,
    [property: Id(1)] Guid LeaseId,
    [property: Id(2)] QuotaDenial Denial,
    [property: Id(3)] TimeSpan RetryAfter)
{
    public static QuotaPermit Grant(Guid leaseId) => new(true, leaseId, QuotaDenial.None, TimeSpan.Zero);
    public static QuotaPermit Deny(QuotaDenial why, TimeSpan retryAfter) => new(false, Guid.Empty, why, retryAfter);
}

/// <summary>How a permitted call ended, as far as the budget is concerned.</summary>
public enum MarketoCallOutcome
{
    /// <summary>Marketo processed the call (success or a caller error that still counts).</summary>
    Counted = 0,
    /// <summary>Marketo did not count it (601, 602, 604, 605, 608, 611) or it never reached Marketo.</summary>
    NotCounted = 1,
    RateLimited = 2,
    ConcurrencyLimited = 3,
    DailyQuotaExhausted = 4,
}

/// <summary>The day's figures of one instance (see <c>QuotaResponse</c> for the first eight).</summary>
/// <param name="Instance">The Marketo instance.</param>
/// <param name="Day">Marketo's (Central) day.</param>
/// <param name="Used">Calls counted today.</param>
/// <param name="Limit">The daily limit.</param>
/// <param name="Remaining">Calls left today after the reserve.</param>
/// <param name="ResetsAt">The next Central midnight.</param>
/// <param name="ByPurpose">Calls today by purpose.</param>
/// <param name="Throttled">Permits denied today.</param>
/// <param name="HourlyByPurpose">Calls counted per Central hour of the day and purpose: index
/// <c>hour × 5 + (int)purpose</c>, 24 hours (on the autumn DST day the repeated hour shares its slot).</param>
/// <param name="Throttles">When Marketo answered 606, 615 or 607 today (the latest 200).</param>
/// <param name="Forecast">When the budget runs out at the current pace, and the calls at the day's end.</param>
/// <param name="Budget">The calls the day may grant: the limit less the reserve.</param>
/// <param name="ReservePercent">The reserve for other integrations (the strictest of the projects).</param>
/// <param name="At">When the snapshot was taken.</param>
[GenerateSerializer, Immutable, Alias("KarteMarketo.QuotaSnapshot")]
public sealed record QuotaSnapshot(
    [property: Id(0)] string Instance,
    [property: Id(1)] DateOnly Day,
    [property: Id(2)] int Used,
    [property: Id(3)] int Limit,
    [property: Id(4)] int Remaining,
    [property: Id(5)] DateTimeOffset ResetsAt,
    [property: Id(6)] IReadOnlyDictionary<string, int> ByPurpose,
    [property: Id(7)] int Throttled,
    [property: Id(8)] IReadOnlyList<int> HourlyByPurpose,
    [property: Id(9)] IReadOnlyList<QuotaThrottleMark> Throttles,
    [property: Id(10)] QuotaForecast Forecast,
    [property: Id(11)] int Budget,
    [property: Id(12)] int ReservePercent,
    [property: Id(13)] DateTimeOffset At);

/// <summary>A throttle Marketo answered: <c>606</c> (rate), <c>615</c> (concurrency) or <c>607</c> (daily quota).</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.QuotaThrottleMark")]
public sealed record QuotaThrottleMark([property: Id(0)] DateTimeOffset At, [property: Id(1)] string Code);

/// <summary>The day at the current pace (the calls of the last hour, or of the day so far when it is younger):
/// when the budget runs out (null: not before the reset) and how many calls the day will have counted at its end
/// (at most the budget, which nothing is granted beyond).</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.QuotaForecast")]
public sealed record QuotaForecast([property: Id(0)] DateTimeOffset? ExhaustedAt, [property: Id(1)] int CallsAtDayEnd);
