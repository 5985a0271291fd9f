namespace KarteMarketo.Marketo;

/// <summary>Marketo's published limits (facts §2, §3), in one place. Our quota settings default to and are checked
/// against these; the client refuses batches above them without a call.</summary>
public static class MarketoLimits
{
    /// <summary>Values per <c>filterValues</c>, records per Sync Leads, activities per Add Custom Activities.</summary>
    public const int MaxBatchSize = 300;

    /// <summary>Longest URI Marketo accepts (HTTP 414 above it); why lookups go as <c>POST …?_method=GET</c>.</summary>
    public const int MaxUriBytes = 8 * 1024;

    /// <summary>Calls per instance in any <see cref="RateWindow"/> (606 above it).</summary>
    public const int CallsPerWindow = 100;

    /// <summary>The sliding window of <see cref="CallsPerWindow"/>.</summary>
    public static readonly TimeSpan RateWindow = TimeSpan.FromSeconds(20);

    /// <summary>Calls per instance in flight at once (615 above it).</summary>
    public const int MaxConcurrentCalls = 10;

    /// <summary>The IANA id of the zone Marketo's day (and its 607 reset) follows.</summary>
    public const string DayTimeZoneId = "America/Chicago";

    /// <summary>US Central time: the daily quota resets at its midnight.</summary>
    public static readonly TimeZoneInfo DayTimeZone = TimeZoneInfo.FindSystemTimeZoneById(DayTimeZoneId);

    /// <summary>The Marketo day an instant falls in.</summary>
    public static DateOnly DayOf(DateTimeOffset instant) => DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(instant, DayTimeZone).DateTime);
}
