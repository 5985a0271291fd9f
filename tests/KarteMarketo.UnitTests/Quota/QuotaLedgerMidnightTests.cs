using KarteMarketo.Contracts.Projects;
using KarteMarketo.Contracts.Quota;
using KarteMarketo.Grains.Quota;
using KarteMarketo.Marketo;
using Microsoft.Extensions.Time.Testing;

namespace KarteMarketo.UnitTests.Quota;

/// <summary>
/// A 607 in the first minutes of the Central day may be Marketo's yesterday (its "12:00 AM CST" can be an hour after
/// a CDT midnight, and clocks drift): it must not close the instance for a whole day before Marketo's count says so.
/// </summary>
public sealed class QuotaLedgerMidnightTests
{
    private const string Instance = "123-ABC-456";
    private static readonly QuotaSettings Limits = new(1_000, 10, 90, 8);

    // Central midnight starting Sunday 2026-11-29 (CST, UTC−6); the clock starts ten minutes into that day.
    private static readonly DateTimeOffset Midnight = new(2026, 11, 29, 0, 0, 0, TimeSpan.FromHours(-6));
    private static readonly DateOnly Today = new(2026, 11, 29);
    private readonly FakeTimeProvider _time = new(Midnight + TimeSpan.FromMinutes(10));

    private LedgerHarness NewHarness(MarketoQuotaState? persisted = null) => new(new QuotaLedger(Instance, _time, persisted));

    private LedgerHarness StoppedByAnEarly607()
    {
        var harness = NewHarness();
        harness.Call(MarketoCallPurpose.Realtime, Limits, MarketoCallOutcome.DailyQuotaExhausted);
        return harness;
    }

    [Fact]
    public void An_early_607_stops_the_instance_briefly_and_asks_for_Marketos_count()
    {
        var harness = StoppedByAnEarly607();

        var refused = harness.Acquire(MarketoCallPurpose.Realtime, Limits);
        Assert.Equal(QuotaDenial.QuotaExhausted, refused.Denial);
        Assert.Equal(QuotaLedger.DoubtRecheck, refused.RetryAfter);
        Assert.Equal(_time.GetUtcNow() + QuotaLedger.DoubtRecheck, harness.Stored!.StoppedUntil);
        Assert.True(harness.Ledger.UsageCheckDue);
    }

    [Fact]
    public void Only_the_claimed_usage_read_passes_the_stop()
    {
        var harness = StoppedByAnEarly607();
        harness.Ledger.ClaimUsageCheck();
        Assert.False(harness.Ledger.UsageCheckDue);

        Assert.Equal(QuotaDenial.QuotaExhausted, harness.Acquire(MarketoCallPurpose.Periodic, Limits).Denial);
        Assert.True(harness.Acquire(MarketoCallPurpose.Other, Limits).Granted);
        Assert.Equal(QuotaDenial.QuotaExhausted, harness.Acquire(MarketoCallPurpose.Other, Limits).Denial);
    }

    [Fact]
    public void A_count_for_today_below_the_limit_ends_the_stop()
    {
        var harness = StoppedByAnEarly607();
        harness.Ledger.ClaimUsageCheck();

        Assert.True(harness.Ledger.SettleMidnightDoubt(new DailyUsage(Today, 3)));
        Assert.True(harness.Acquire(MarketoCallPurpose.Realtime, Limits).Granted);
        Assert.False(harness.Ledger.UsageCheckDue);
    }

    [Fact]
    public void A_count_for_today_at_the_limit_closes_the_instance_until_the_next_midnight()
    {
        var harness = StoppedByAnEarly607();
        harness.Ledger.ClaimUsageCheck();

        Assert.True(harness.Ledger.SettleMidnightDoubt(new DailyUsage(Today, Limits.DailyLimit)));
        var refused = harness.Acquire(MarketoCallPurpose.Realtime, Limits);
        Assert.Equal(QuotaDenial.QuotaExhausted, refused.Denial);
        Assert.Equal(Midnight.AddDays(1) - _time.GetUtcNow(), refused.RetryAfter);
    }

    [Fact]
    public void A_count_still_dated_yesterday_keeps_the_stop_until_the_next_check_and_its_607_plans_no_extra_read()
    {
        var harness = StoppedByAnEarly607();
        _time.Advance(TimeSpan.FromMinutes(1));
        harness.Ledger.ClaimUsageCheck();
        var nextCheck = _time.GetUtcNow() + QuotaLedger.DoubtRecheck;

        harness.Ledger.SettleMidnightDoubt(new DailyUsage(Today.AddDays(-1), 5_000));
        Assert.Equal(nextCheck - _time.GetUtcNow(), harness.Acquire(MarketoCallPurpose.Realtime, Limits).RetryAfter);
        Assert.False(harness.Ledger.UsageCheckDue);

        // The check itself answered 607 (Marketo still on its yesterday): no read before the planned one.
        var check = NewCheckPermit(harness);
        harness.Release(check, MarketoCallOutcome.DailyQuotaExhausted);
        Assert.False(harness.Ledger.UsageCheckDue);
        _time.SetUtcNow(nextCheck);
        Assert.True(harness.Ledger.UsageCheckDue);
    }

    [Fact]
    public void A_607_after_the_doubt_closes_the_day_as_before()
    {
        _time.SetUtcNow(Midnight + QuotaLedger.MidnightDoubt);
        var harness = NewHarness();
        harness.Call(MarketoCallPurpose.Realtime, Limits, MarketoCallOutcome.DailyQuotaExhausted);

        Assert.Equal(Midnight.AddDays(1), harness.Stored!.StoppedUntil);
        Assert.False(harness.Ledger.UsageCheckDue);
    }

    [Fact]
    public void Marketos_count_settles_nothing_when_no_607_is_in_doubt()
    {
        var harness = NewHarness();
        harness.Call(MarketoCallPurpose.Realtime, Limits);
        Assert.False(harness.Ledger.SettleMidnightDoubt(new DailyUsage(Today, Limits.DailyLimit + 5)));
        Assert.Null(harness.Ledger.CaptureState().StoppedUntil);
    }

    private static Guid NewCheckPermit(LedgerHarness harness)
    {
        harness.Ledger.ClaimUsageCheck();
        var permit = harness.Acquire(MarketoCallPurpose.Other, Limits);
        Assert.True(permit.Granted);
        return permit.LeaseId;
    }
}
