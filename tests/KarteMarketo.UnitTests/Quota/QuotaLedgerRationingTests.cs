using KarteMarketo.Contracts.Projects;
using KarteMarketo.Contracts.Quota;
using KarteMarketo.Grains.Quota;
using Microsoft.Extensions.Time.Testing;

namespace KarteMarketo.UnitTests.Quota;

/// <summary>Rationing by purpose under overload, through the ledger (day, window and in-flight slots).</summary>
public sealed class QuotaLedgerRationingTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));

    private LedgerHarness NewHarness() => new(new QuotaLedger("123-ABC-456", _time, null));

    [Fact]
    public void A_realtime_flood_cannot_take_the_day_share_of_trickling_activities()
    {
        // Budget 1000 (no reserve): each purpose is guaranteed 240, other 40.
        var limits = new QuotaSettings(1000, 0, 100, 10);
        var harness = NewHarness();
        var realtime = 0;
        var activities = 0;
        var activityDenials = 0;
        for (var step = 0; step < 400; step++)
        {
            _time.Advance(QuotaLedger.Window);
            // Activities: one call per window. Realtime: ten times its window share, every window.
            if (harness.Call(MarketoCallPurpose.Activities, limits).Granted) activities++;
            else activityDenials++;
            for (var i = 0; i < 240; i++)
            {
                if (harness.Call(MarketoCallPurpose.Realtime, limits).Granted) realtime++;
            }
        }

        // Activities asked 400 times: its first 240 were never refused, whatever realtime did.
        Assert.True(activities >= QuotaRationing.GuaranteeOf(MarketoCallPurpose.Activities, 1000));
        Assert.Equal(1000, realtime + activities);
        Assert.Equal(400 - activities, activityDenials);
        // Realtime borrowed everything nobody active was owed (periodic, leads and other never asked).
        Assert.True(realtime >= 1000 - 240);
    }

    [Fact]
    public void Within_one_window_a_flood_leaves_the_active_purposes_their_share()
    {
        var limits = new QuotaSettings(50_000, 0, 100, 10);
        var harness = NewHarness();
        // Activities asked a moment ago: it is active and holds 24 of the 100.
        Assert.True(harness.Call(MarketoCallPurpose.Activities, limits).Granted);

        var realtime = 0;
        for (var i = 0; i < 240; i++)
        {
            if (harness.Call(MarketoCallPurpose.Realtime, limits).Granted) realtime++;
        }
        Assert.Equal(76, realtime);

        var activities = 0;
        for (var i = 0; i < 23; i++)
        {
            if (harness.Call(MarketoCallPurpose.Activities, limits).Granted) activities++;
        }
        Assert.Equal(23, activities);
        Assert.Equal(QuotaDenial.RateWindow, harness.Acquire(MarketoCallPurpose.Activities, limits).Denial);
    }

    [Fact]
    public void A_purpose_that_was_refused_once_gets_its_share_of_the_next_window()
    {
        var limits = new QuotaSettings(50_000, 0, 100, 10);
        var harness = NewHarness();
        // Realtime fills the whole window before activities ever asked (nobody else was active).
        var realtime = 0;
        while (harness.Call(MarketoCallPurpose.Realtime, limits).Granted) realtime++;
        Assert.Equal(100, realtime);
        var refused = harness.Acquire(MarketoCallPurpose.Activities, limits);
        Assert.Equal(QuotaDenial.RateWindow, refused.Denial);

        // Now activities is active: when the window frees, realtime cannot take the 24 it is owed.
        _time.Advance(refused.RetryAfter);
        realtime = 0;
        for (var i = 0; i < 240; i++)
        {
            if (harness.Call(MarketoCallPurpose.Realtime, limits).Granted) realtime++;
        }
        Assert.Equal(76, realtime);
        for (var i = 0; i < 24; i++) Assert.True(harness.Call(MarketoCallPurpose.Activities, limits).Granted);
    }

    [Fact]
    public void Long_realtime_calls_cannot_hold_every_slot()
    {
        var limits = new QuotaSettings(50_000, 0, 100, 8);
        var harness = NewHarness();
        Assert.True(harness.Call(MarketoCallPurpose.Leads, limits).Granted);
        var held = 0;
        for (var i = 0; i < 20; i++)
        {
            if (harness.Acquire(MarketoCallPurpose.Realtime, limits).Granted) held++;
        }
        // 8 slots, leads (active) is owed floor(8 × 6 / 25) = 1.
        Assert.Equal(7, held);
        Assert.True(harness.Acquire(MarketoCallPurpose.Leads, limits).Granted);
    }

    [Fact]
    public void A_purpose_alone_can_use_the_whole_budget()
    {
        var limits = new QuotaSettings(500, 10, 100, 10);
        var harness = NewHarness();
        var granted = 0;
        for (var step = 0; step < 10; step++)
        {
            _time.Advance(QuotaLedger.Window);
            while (harness.Call(MarketoCallPurpose.Periodic, limits).Granted) granted++;
        }
        Assert.Equal(450, granted);
        Assert.Equal(0, harness.Ledger.Snapshot(limits).Remaining);
    }

    [Fact]
    public void A_purpose_idle_for_a_day_holds_nothing_back()
    {
        var limits = new QuotaSettings(1000, 0, 100, 10);
        var harness = NewHarness();
        Assert.True(harness.Call(MarketoCallPurpose.Leads, limits).Granted);
        _time.Advance(QuotaLedger.DayActivityHorizon);
        var granted = 0;
        for (var step = 0; step < 20; step++)
        {
            _time.Advance(QuotaLedger.Window);
            while (harness.Call(MarketoCallPurpose.Realtime, limits).Granted) granted++;
        }
        Assert.Equal(1000, granted);
    }
}
