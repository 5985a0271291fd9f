using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>The outcome of converting one lead field value: a value to write, or an error (and nothing written).</summary>
public readonly record struct ConversionResult(bool Success, JsonNode? Value, string? Error)
{
    public static ConversionResult Ok(JsonNode? value) => new(true, value, null);
    public static ConversionResult Fail(string error) => new(false, null, error);
}

/// <summary>
/// The <c>fieldMappings[].convert</c> conversions (API.md). Pure: no clock, no I/O.
/// <list type="bullet">
/// <item><c>none</c>: the value as Marketo sent it.</item>
/// <item><c>stringToDate</c>: an ISO-8601 string. A date-time with an offset (or <c>Z</c>) keeps its instant; a date-time
/// without one is read in the instance's <c>marketo.timeZone</c> (as Marketo shows such times); a date alone
/// (<c>1990-04-01</c>) is a calendar date, not an instant, so it becomes midnight UTC and stays the same day for every
/// reader (a birthday must not move to the 31st of March). Output: ISO-8601 in UTC with <c>+00:00</c>.</item>
/// <item><c>unixSecondsToDate</c> / <c>unixMillisecondsToDate</c>: a number (or numeric string) of seconds or
/// milliseconds since the epoch, to ISO-8601 UTC.</item>
/// <item><c>toBoolean</c>: <c>true</c>/<c>false</c>, <c>"true"</c>/<c>"false"</c>, <c>"yes"</c>/<c>"no"</c>, <c>1</c>/<c>0</c>
/// (as numbers or strings, case-insensitive).</item>
/// </list>
/// A value that does not convert is an error: the caller skips the field and reports it.
/// </summary>
public static class FieldConversion
{
    private static readonly string[] DateTimeFormats =
    [
        "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF",
        "yyyy-MM-dd'T'HH:mm",
        "yyyy-MM-dd HH:mm:ss.FFFFFFF",
        "yyyy-MM-dd HH:mm",
    ];

    // Outside these the DateTimeOffset arithmetic throws; real dates are far inside.
    private static readonly long MinUnixSeconds = DateTimeOffset.MinValue.ToUnixTimeSeconds();
    private static readonly long MaxUnixSeconds = DateTimeOffset.MaxValue.ToUnixTimeSeconds();

    /// <summary>Converts <paramref name="value"/> with <paramref name="conversion"/> (one of <see cref="FieldConversions"/>).
    /// <paramref name="instanceZone"/> is the Marketo instance's time zone, used for date-times without an offset.</summary>
    public static ConversionResult Convert(string conversion, JsonNode? value, TimeZoneInfo instanceZone)
    {
        ArgumentNullException.ThrowIfNull(instanceZone);
        if (value is null) return ConversionResult.Ok(null);
        return conversion switch
        {
            FieldConversions.None => ConversionResult.Ok(value.DeepClone()),
            FieldConversions.StringToDate => StringToDate(value, instanceZone),
            FieldConversions.UnixSecondsToDate => UnixToDate(value, milliseconds: false),
            FieldConversions.UnixMillisecondsToDate => UnixToDate(value, milliseconds: true),
            FieldConversions.ToBoolean => ToBoolean(value),
            _ => ConversionResult.Fail($"unknown conversion '{conversion}'"),
        };
    }

    /// <summary>The ISO-8601 form used for every converted date: UTC, <c>+00:00</c>, fractions only where present.</summary>
    public static string FormatDate(DateTimeOffset instant) =>
        instant.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz", CultureInfo.InvariantCulture);

    private static ConversionResult StringToDate(JsonNode value, TimeZoneInfo zone)
    {
        if (value is not JsonValue v || v.GetValueKind() != JsonValueKind.String)
            return ConversionResult.Fail($"expected a date string, got {Describe(value)}");
        var text = v.GetValue<string>().Trim();

        if (text.Length == 10 && DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
            return ConversionResult.Ok(FormatDate(new DateTimeOffset(date.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero)));

        if (HasOffset(text) && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out var withOffset))
            return ConversionResult.Ok(FormatDate(withOffset));

        if (DateTime.TryParseExact(text, DateTimeFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out var local))
        {
            var unspecified = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
            if (zone.IsInvalidTime(unspecified))
                return ConversionResult.Fail($"'{text}' does not exist in time zone {zone.Id} (skipped by a daylight-saving change)");
            var offset = zone.GetUtcOffset(unspecified);
            return ConversionResult.Ok(FormatDate(new DateTimeOffset(unspecified, offset)));
        }

        return ConversionResult.Fail($"'{Truncate(text)}' is not an ISO-8601 date or date-time");
    }

    private static bool HasOffset(string text)
    {
        if (text.EndsWith('Z') || text.EndsWith('z')) return true;
        var t = text.IndexOf('T') is var i and >= 0 ? i : text.IndexOf(' ');
        if (t < 0) return false;
        var time = text[(t + 1)..];
        return time.Contains('+', StringComparison.Ordinal) || time.Contains('-', StringComparison.Ordinal);
    }

    private static ConversionResult UnixToDate(JsonNode value, bool milliseconds)
    {
        if (!TryReadNumber(value, out var number))
            return ConversionResult.Fail($"expected a number of {(milliseconds ? "milliseconds" : "seconds")}, got {Describe(value)}");
        var seconds = milliseconds ? number / 1000m : number;
        if (seconds < MinUnixSeconds || seconds > MaxUnixSeconds)
            return ConversionResult.Fail($"{number.ToString(CultureInfo.InvariantCulture)} is out of range for a date");
        var ticks = decimal.Round(seconds * TimeSpan.TicksPerSecond);
        return ConversionResult.Ok(FormatDate(DateTimeOffset.UnixEpoch.AddTicks((long)ticks)));
    }

    private static ConversionResult ToBoolean(JsonNode value)
    {
        if (value is JsonValue v)
        {
            switch (v.GetValueKind())
            {
                case JsonValueKind.True: return ConversionResult.Ok(true);
                case JsonValueKind.False: return ConversionResult.Ok(false);
                case JsonValueKind.Number when TryReadNumber(v, out var n) && (n == 0m || n == 1m):
                    return ConversionResult.Ok(n == 1m);
                case JsonValueKind.String:
                    switch (v.GetValue<string>().Trim().ToLowerInvariant())
                    {
                        case "true" or "yes" or "1": return ConversionResult.Ok(true);
                        case "false" or "no" or "0": return ConversionResult.Ok(false);
                    }
                    break;
            }
        }
        return ConversionResult.Fail($"{Describe(value)} is not a boolean (true/false, yes/no, 1/0)");
    }

    private static bool TryReadNumber(JsonNode value, out decimal number)
    {
        number = 0;
        if (value is not JsonValue v) return false;
        return v.GetValueKind() switch
        {
            JsonValueKind.Number => decimal.TryParse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out number),
            JsonValueKind.String => decimal.TryParse(v.GetValue<string>().Trim(), NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint,
                CultureInfo.InvariantCulture, out number),
            _ => false,
        };
    }

    private static string Describe(JsonNode value) => value switch
    {
        JsonObject => "an object",
        JsonArray => "an array",
        _ => Truncate(value.ToJsonString()),
    };

    private static string Truncate(string text) => text.Length <= 64 ? text : text[..64] + "…";
}
