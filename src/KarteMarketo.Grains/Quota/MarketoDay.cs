using KarteMarketo.Marketo;

namespace KarteMarketo.Grains.Quota;

/// <summary>
/// Marketo's quota day: it resets at midnight US Central time, CST or CDT as the date has it, whatever time zone
/// the instance or this host is in.
/// </summary>
public static class MarketoDay
{
    /// <summary>US Central time (<see cref="MarketoLimits.DayTimeZone"/>; IANA id, resolves through ICU on Linux and Windows alike).</summary>
    public static TimeZoneInfo Zone => MarketoLimits.DayTimeZone;

    /// <summary>The Central calendar date that <paramref name="at"/> falls on.</summary>
    public static DateOnly Of(DateTimeOffset at) => MarketoLimits.DayOf(at);

    /// <summary>The Central midnight that ends <paramref name="day"/>, with its own offset (−06:00 or −05:00).</summary>
    public static DateTimeOffset EndOf(DateOnly day)
    {
        // US DST switches at 02:00 local, so midnight is never skipped or repeated: the offset is unambiguous.
        var midnight = day.AddDays(1).ToDateTime(TimeOnly.MinValue, DateTimeKind.Unspecified);
        return new DateTimeOffset(midnight, Zone.GetUtcOffset(midnight));
    }

    /// <summary>The Central midnight that starts <paramref name="day"/>.</summary>
    public static DateTimeOffset StartOf(DateOnly day) => EndOf(day.AddDays(-1));

    /// <summary>The reset that follows <paramref name="at"/>.</summary>
    public static DateTimeOffset NextResetAfter(DateTimeOffset at) => EndOf(Of(at));
}
