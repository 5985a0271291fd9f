using KarteMarketo.Contracts.Projects;
using KarteMarketo.Contracts.Quota;
using KarteMarketo.Grains.Quota;
using KarteMarketo.Marketo;
using Microsoft.Extensions.Time.Testing;

namespace KarteMarketo.UnitTests.Quota;

/// <summary>The day's hourly history and forecast (GET …/quota "forecast", the console's Marketo day chart).</summary>
public sealed class QuotaForecastTests
{
    private const string Instance = "123-ABC-456";

    // 2026-11-28 12:00 UTC = 06:00 CST; the day ends 2026-11-29 06:00 UTC (18 h later).
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public void Calls_are_kept_by_Central_hour_and_purpose_and_survive_a_restart()
    {
        var limits = new QuotaSettings(50_000, 10, 100, 10);
        var harness = new LedgerHarness(new QuotaLedger(Instance, _time, null));
        for (var i = 0; i < 3; i++) harness.Call(MarketoCallPurpose.Realtime, limits);
        harness.Call(MarketoCallPurpose.Activities, limits);
        _time.Advance(TimeSpan.FromHours(2));
        harness.Call(MarketoCallPurpose.Periodic, limits);
        // Not counted by Marketo (a token renewal): not in the hour either.
        harness.Call(MarketoCallPurpose.Periodic, limits, MarketoCallOutcome.NotCounted);

        var snapshot = harness.Ledger.Snapshot(limits);
        const int purposes = 5;
        Assert.Equal(3, snapshot.HourlyByPurpose[6 * purposes + (int)MarketoCallPurpose.Realtime]);
        Assert.Equal(1, snapshot.HourlyByPurpose[6 * purposes + (int)MarketoCallPurpose.Activities]);
        Assert.Equal(1, snapshot.HourlyByPurpose[8 * purposes + (int)MarketoCallPurpose.Periodic]);
        Assert.Equal(snapshot.Used, snapshot.HourlyByPurpose.Sum());

        harness.Persist(exact: true);
        var restarted = new QuotaLedger(Instance, _time, harness.Stored).Snapshot(limits);
        Assert.Equal(snapshot.HourlyByPurpose, restarted.HourlyByPurpose);
    }

    [Fact]
    public void At_a_pace_that_spends_the_budget_before_midnight_the_forecast_says_when()
    {
        // Budget 9,000 (10,000 less 10 %); 600 calls in the last hour → 600/h; 8,400 left → 14 h from now.
        var limits = new QuotaSettings(10_000, 10, 100, 10);
        var harness = new LedgerHarness(new QuotaLedger(Instance, _time, null));
        _time.Advance(TimeSpan.FromMinutes(59));  // 06:59 CST: all in hour 6, and the hour before the window is empty
        for (var i = 0; i < 600; i++)
        {
            if (i % 100 == 99) _time.Advance(QuotaLedger.Window);
            harness.Call(MarketoCallPurpose.Realtime, limits);
        }
        _time.Advance(TimeSpan.FromSeconds(60 - _time.GetUtcNow().Second));   // 07:01: the window still holds them all
        var snapshot = harness.Ledger.Snapshot(limits);
        Assert.Equal(9_000, snapshot.Budget);
        Assert.Equal(9_000, snapshot.Forecast.CallsAtDayEnd);
        var exhausted = Assert.NotNull(snapshot.Forecast.ExhaustedAt);
        var now = _time.GetUtcNow();
        // 8,400 calls at 600 an hour (the window's share of hour 6 is what is still inside the last hour).
        Assert.InRange(exhausted, now + TimeSpan.FromHours(13), now + TimeSpan.FromHours(16));
        Assert.True(exhausted < snapshot.ResetsAt);
    }

    [Fact]
    public void At_a_slow_pace_the_budget_lasts_and_the_day_end_figure_is_the_extension()
    {
        var limits = new QuotaSettings(50_000, 10, 100, 10);
        var harness = new LedgerHarness(new QuotaLedger(Instance, _time, null));
        _time.Advance(TimeSpan.FromMinutes(30));
        for (var i = 0; i < 10; i++) harness.Call(MarketoCallPurpose.Leads, limits);
        _time.Advance(TimeSpan.FromMinutes(30));   // 07:00: 10 calls in the last hour, 17 h left
        var forecast = harness.Ledger.Snapshot(limits).Forecast;
        Assert.Null(forecast.ExhaustedAt);
        Assert.InRange(forecast.CallsAtDayEnd, 10 + 160, 10 + 180);
    }

    [Fact]
    public void No_calls_no_forecast_and_a_607_is_marked_and_spends_the_day()
    {
        var limits = new QuotaSettings(50_000, 10, 100, 10);
        var harness = new LedgerHarness(new QuotaLedger(Instance, _time, null));
        Assert.Equal(new QuotaForecast(null, 0), harness.Ledger.Snapshot(limits).Forecast);

        harness.Call(MarketoCallPurpose.Realtime, limits, MarketoCallOutcome.RateLimited);
        _time.Advance(TimeSpan.FromSeconds(3));   // past the 606 pause
        Assert.True(harness.Call(MarketoCallPurpose.Realtime, limits, MarketoCallOutcome.DailyQuotaExhausted).Granted);
        var snapshot = harness.Ledger.Snapshot(limits);
        Assert.Equal(["606", "607"], snapshot.Throttles.Select(t => t.Code));
        Assert.Equal(_time.GetUtcNow(), snapshot.Forecast.ExhaustedAt);
    }
}
