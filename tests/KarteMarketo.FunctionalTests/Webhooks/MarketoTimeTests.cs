using KarteMarketo.Grains.Outbox;
using KarteMarketo.Grains.Flows.CustomActivities;
using KarteMarketo.Grains.Flows.LeadUpserts;
using KarteMarketo.Grains.Flows.MarketoActivities;

namespace KarteMarketo.FunctionalTests.Webhooks;

/// <summary>Pure checks of how offset-less Marketo times are read, and of the outbox back-off.</summary>
public sealed class MarketoTimeTests
{
    private static readonly TimeZoneInfo Chicago = TimeZoneInfo.FindSystemTimeZoneById("America/Chicago");

    [Theory]
    [InlineData("2026-11-28 06:30:00", "2026-11-28T06:30:00-06:00")] // CST
    [InlineData("2026-07-01 06:30:00", "2026-07-01T06:30:00-05:00")] // CDT
    [InlineData("2026-07-01T06:30", "2026-07-01T06:30:00-05:00")]
    [InlineData("2026-11-01 01:30:00", "2026-11-01T01:30:00-05:00")] // the repeated hour: the earlier (daylight) reading
    [InlineData("2026-03-08 02:30:00", "2026-03-08T03:30:00-05:00")] // the skipped hour: moved forward like a wall clock
    public void An_offset_less_time_is_read_in_the_instance_zone(string text, string expected)
    {
        Assert.True(MarketoActivityFlow.TryReadMarketoTime(text, Chicago, out var at));
        Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), at);
        Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture).Offset, at.Offset);
    }

    [Theory]
    [InlineData("2026-11-28T06:30:00+09:00")]
    [InlineData("2026-11-28T06:30:00Z")]
    [InlineData("Clicked Link")]
    [InlineData("2026-11-28")]
    [InlineData("2026-13-45 99:00:00")]
    public void Other_values_are_left_alone(string text) =>
        Assert.False(MarketoActivityFlow.TryReadMarketoTime(text, Chicago, out _));

    [Fact]
    public void Back_off_doubles_up_to_its_cap()
    {
        var options = new OutboxOptions { InitialBackoff = TimeSpan.FromSeconds(5), MaxBackoff = TimeSpan.FromMinutes(1) };
        Assert.Equal([5, 10, 20, 40, 60, 60], Enumerable.Range(1, 6).Select(a => options.BackoffFor(a).TotalSeconds));
        Assert.Equal(TimeSpan.FromMinutes(1), options.BackoffFor(500));
    }
}
