using KarteMarketo.Contracts.Projects;
using KarteMarketo.Contracts.Quota;
using KarteMarketo.Grains.Quota;
using Microsoft.Extensions.Time.Testing;

namespace KarteMarketo.UnitTests.Quota;

public sealed class MarketoDayTests
{
    [Theory]
    // January: CST, UTC−6.
    [InlineData("2026-01-15T05:59:59Z", "2026-01-14")]
    [InlineData("2026-01-15T06:00:00Z", "2026-01-15")]
    // July: CDT, UTC−5.
    [InlineData("2026-07-15T04:59:59Z", "2026-07-14")]
    [InlineData("2026-07-15T05:00:00Z", "2026-07-15")]
    // 2026-03-08 starts in CST (06:00Z) and, after the 02:00 spring-forward, ends in CDT (05:00Z next day).
    [InlineData("2026-03-08T05:59:59Z", "2026-03-07")]
    [InlineData("2026-03-08T06:00:00Z", "2026-03-08")]
    [InlineData("2026-03-09T04:59:59Z", "2026-03-08")]
    [InlineData("2026-03-09T05:00:00Z", "2026-03-09")]
    // 2026-11-01 starts in CDT (05:00Z) and, after the 02:00 fall-back, ends in CST (06:00Z next day).
    [InlineData("2026-11-01T04:59:59Z", "2026-10-31")]
    [InlineData("2026-11-01T05:00:00Z", "2026-11-01")]
    [InlineData("2026-11-02T05:59:59Z", "2026-11-01")]
    [InlineData("2026-11-02T06:00:00Z", "2026-11-02")]
    public void Day_follows_Central_midnight(string instant, string expectedDay)
    {
        Assert.Equal(DateOnly.Parse(expectedDay), MarketoDay.Of(DateTimeOffset.Parse(instant)));
    }

    [Theory]
    [InlineData("2026-01-14", "2026-01-15T00:00:00-06:00", 24)]
    [InlineData("2026-07-14", "2026-07-15T00:00:00-05:00", 24)]
    [InlineData("2026-03-08", "2026-03-09T00:00:00-05:00", 23)]
    [InlineData("2026-11-01", "2026-11-02T00:00:00-06:00", 25)]
    public void Day_ends_at_the_next_Central_midnight_with_its_own_offset(string day, string expectedEnd, int hoursLong)
    {
        var date = DateOnly.Parse(day);
        var end = MarketoDay.EndOf(date);
        var expected = DateTimeOffset.Parse(expectedEnd);
        Assert.Equal(expected, end);
        Assert.Equal(expected.Offset, end.Offset);
        Assert.Equal(TimeSpan.FromHours(hoursLong), end - MarketoDay.EndOf(date.AddDays(-1)));
    }

    [Theory]
    [InlineData("2026-01-14T23:00:00-06:00")]
    [InlineData("2026-07-14T23:00:00-05:00")]
    [InlineData("2026-03-08T23:00:00-05:00")]
    [InlineData("2026-11-01T23:00:00-06:00")]
    public void Ledger_count_resets_exactly_at_Central_midnight(string anHourBeforeMidnight)
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse(anHourBeforeMidnight));
        var ledger = new QuotaLedger("123-ABC-456", time, null);
        var harness = new LedgerHarness(ledger);
        var limits = new QuotaSettings(1000, 0, 100, 10);

        Assert.True(harness.Call(MarketoCallPurpose.Periodic, limits).Granted);
        time.Advance(TimeSpan.FromMinutes(59) + TimeSpan.FromSeconds(59));
        Assert.True(harness.Call(MarketoCallPurpose.Periodic, limits).Granted);
        var before = ledger.Snapshot(limits);
        Assert.Equal(2, before.Used);
        Assert.Equal(DateOnly.FromDateTime(DateTimeOffset.Parse(anHourBeforeMidnight).DateTime), before.Day);

        time.Advance(TimeSpan.FromSeconds(1));
        var after = ledger.Snapshot(limits);
        Assert.Equal(0, after.Used);
        Assert.Equal(before.Day.AddDays(1), after.Day);
        Assert.Equal(0, after.ByPurpose["periodic"]);
        Assert.Equal(before.ResetsAt, time.GetUtcNow());
        Assert.True(harness.Call(MarketoCallPurpose.Periodic, limits).Granted);
        Assert.Equal(1, ledger.Snapshot(limits).Used);
    }
}
