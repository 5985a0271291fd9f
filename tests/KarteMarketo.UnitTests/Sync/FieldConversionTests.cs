using System.Text.Json.Nodes;
using KarteMarketo.Contracts.Projects;
using KarteMarketo.Grains.Flows.LeadSync;

namespace KarteMarketo.UnitTests.Sync;

public sealed class FieldConversionTests
{
    private static readonly TimeZoneInfo Chicago = TimeZoneInfo.FindSystemTimeZoneById("America/Chicago");
    private static readonly TimeZoneInfo Tokyo = TimeZoneInfo.FindSystemTimeZoneById("Asia/Tokyo");

    private static readonly System.Text.Json.JsonSerializerOptions Relaxed =
        new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static ConversionResult Convert(string conversion, JsonNode? value, TimeZoneInfo? zone = null) =>
        FieldConversion.Convert(conversion, value, zone ?? TimeZoneInfo.Utc);

    private static string Ok(ConversionResult result)
    {
        Assert.True(result.Success, result.Error);
        return result.Value!.ToJsonString(Relaxed);
    }

    [Fact]
    public void None_copies_any_value()
    {
        Assert.Equal("\"Ann\"", Ok(Convert(FieldConversions.None, JsonValue.Create("Ann"))));
        Assert.Equal("42", Ok(Convert(FieldConversions.None, JsonValue.Create(42))));
        Assert.Equal("{\"a\":1}", Ok(Convert(FieldConversions.None, new JsonObject { ["a"] = 1 })));
    }

    [Fact]
    public void Null_is_no_value_and_no_error()
    {
        foreach (var conversion in FieldConversions.All)
        {
            var result = Convert(conversion, null);
            Assert.True(result.Success);
            Assert.Null(result.Value);
        }
    }

    [Theory]
    [InlineData("1990-04-01", "1990-04-01T00:00:00+00:00")]          // a calendar date: midnight UTC, same day everywhere
    [InlineData(" 1990-04-01 ", "1990-04-01T00:00:00+00:00")]
    [InlineData("2026-11-20T10:00:00Z", "2026-11-20T10:00:00+00:00")]
    [InlineData("2026-11-20T10:00:00+09:00", "2026-11-20T01:00:00+00:00")]
    [InlineData("2010-05-07T15:41:32-05:00", "2010-05-07T20:41:32+00:00")]
    [InlineData("2026-11-20T10:00:00.250Z", "2026-11-20T10:00:00.25+00:00")]
    public void StringToDate_reads_dates_and_instants(string input, string expected)
    {
        Assert.Equal($"\"{expected}\"", Ok(Convert(FieldConversions.StringToDate, JsonValue.Create(input), Chicago)));
    }

    [Fact]
    public void StringToDate_date_only_does_not_depend_on_the_time_zone()
    {
        Assert.Equal(
            Ok(Convert(FieldConversions.StringToDate, JsonValue.Create("1990-04-01"), Tokyo)),
            Ok(Convert(FieldConversions.StringToDate, JsonValue.Create("1990-04-01"), Chicago)));
    }

    [Theory]
    [InlineData("2026-11-20T10:00:00", "America/Chicago", "2026-11-20T16:00:00+00:00")]   // CST, UTC-6
    [InlineData("2026-07-01T10:00:00", "America/Chicago", "2026-07-01T15:00:00+00:00")]   // CDT, UTC-5
    [InlineData("2026-11-20 10:00:00", "America/Chicago", "2026-11-20T16:00:00+00:00")]   // Marketo's {{system.dateTime}} shape
    [InlineData("2026-11-20T10:00:00", "Asia/Tokyo", "2026-11-20T01:00:00+00:00")]
    [InlineData("2026-11-20T10:00", "UTC", "2026-11-20T10:00:00+00:00")]
    public void StringToDate_reads_times_without_offset_in_the_instance_zone(string input, string zone, string expected)
    {
        var tz = TimeZoneInfo.FindSystemTimeZoneById(zone);
        Assert.Equal($"\"{expected}\"", Ok(Convert(FieldConversions.StringToDate, JsonValue.Create(input), tz)));
    }

    [Fact]
    public void StringToDate_refuses_a_local_time_skipped_by_daylight_saving()
    {
        var result = Convert(FieldConversions.StringToDate, JsonValue.Create("2026-03-08T02:30:00"), Chicago);
        Assert.False(result.Success);
        Assert.Contains("does not exist", result.Error);
    }

    [Theory]
    [InlineData("\"yesterday\"")]
    [InlineData("\"1990-13-01\"")]
    [InlineData("\"1990-02-30\"")]
    [InlineData("\"04/01/1990\"")]
    [InlineData("\"\"")]
    [InlineData("19900401")]
    [InlineData("true")]
    [InlineData("{\"a\":1}")]
    public void StringToDate_refuses_what_is_not_an_iso_date(string json)
    {
        var result = Convert(FieldConversions.StringToDate, JsonNode.Parse(json), Chicago);
        Assert.False(result.Success);
        Assert.NotNull(result.Error);
        Assert.Null(result.Value);
    }

    [Theory]
    [InlineData("0", "1970-01-01T00:00:00+00:00")]
    [InlineData("1795000000", "2026-11-18T11:06:40+00:00")]
    [InlineData("\"1795000000\"", "2026-11-18T11:06:40+00:00")]
    [InlineData("-86400", "1969-12-31T00:00:00+00:00")]
    [InlineData("1.5", "1970-01-01T00:00:01.5+00:00")]
    public void UnixSecondsToDate(string json, string expected)
    {
        Assert.Equal($"\"{expected}\"", Ok(Convert(FieldConversions.UnixSecondsToDate, JsonNode.Parse(json))));
    }

    [Theory]
    [InlineData("1795000000000", "2026-11-18T11:06:40+00:00")]
    [InlineData("\"1795000000123\"", "2026-11-18T11:06:40.123+00:00")]
    [InlineData("0", "1970-01-01T00:00:00+00:00")]
    public void UnixMillisecondsToDate(string json, string expected)
    {
        Assert.Equal($"\"{expected}\"", Ok(Convert(FieldConversions.UnixMillisecondsToDate, JsonNode.Parse(json))));
    }

    [Theory]
    [InlineData(FieldConversions.UnixSecondsToDate, "\"soon\"")]
    [InlineData(FieldConversions.UnixSecondsToDate, "\"2026-11-20\"")]
    [InlineData(FieldConversions.UnixSecondsToDate, "true")]
    [InlineData(FieldConversions.UnixSecondsToDate, "1e300")]
    [InlineData(FieldConversions.UnixSecondsToDate, "[1]")]
    [InlineData(FieldConversions.UnixMillisecondsToDate, "\"12ab\"")]
    [InlineData(FieldConversions.UnixMillisecondsToDate, "99999999999999999999")]
    public void Unix_conversions_refuse_non_numbers_and_out_of_range(string conversion, string json)
    {
        var result = Convert(conversion, JsonNode.Parse(json));
        Assert.False(result.Success);
        Assert.NotNull(result.Error);
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("false", false)]
    [InlineData("\"true\"", true)]
    [InlineData("\"FALSE\"", false)]
    [InlineData("\"yes\"", true)]
    [InlineData("\"No\"", false)]
    [InlineData("\"1\"", true)]
    [InlineData("\"0\"", false)]
    [InlineData("1", true)]
    [InlineData("0", false)]
    public void ToBoolean_accepts_the_usual_spellings(string json, bool expected)
    {
        Assert.Equal(expected ? "true" : "false", Ok(Convert(FieldConversions.ToBoolean, JsonNode.Parse(json))));
    }

    [Theory]
    [InlineData("\"maybe\"")]
    [InlineData("2")]
    [InlineData("\"\"")]
    [InlineData("0.5")]
    [InlineData("{}")]
    public void ToBoolean_refuses_anything_else(string json)
    {
        var result = Convert(FieldConversions.ToBoolean, JsonNode.Parse(json));
        Assert.False(result.Success);
        Assert.NotNull(result.Error);
    }

    [Fact]
    public void Unknown_conversion_is_an_error()
    {
        Assert.False(Convert("toUpper", JsonValue.Create("a")).Success);
    }
}
