using KarteMarketo.Contracts.Projects;
using KarteMarketo.Contracts.Quota;
using KarteMarketo.Grains.Quota;
using KarteMarketo.Marketo;
using Microsoft.Extensions.Time.Testing;

namespace KarteMarketo.UnitTests.Quota;

public sealed class QuotaLedgerTests
{
    private const string Instance = "123-ABC-456";

    // Saturday 2026-11-28 12:00 UTC = 06:00 CST; the day ends 2026-11-29 06:00 UTC.
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));
    private static readonly DateTimeOffset NextCentralMidnight = new(2026, 11, 29, 0, 0, 0, TimeSpan.FromHours(-6));

    private LedgerHarness NewHarness(MarketoQuotaState? persisted = null) => new(new QuotaLedger(Instance, _time, persisted));

    [Fact]
    public void A_crash_never_loses_a_granted_call()
    {
        var limits = new QuotaSettings(50_000, 10, 100, 10);
        var harness = NewHarness();
        for (var granted = 1; granted <= 237; granted++)
        {
            if (granted % 100 == 0) _time.Advance(QuotaLedger.Window);
            Assert.True(harness.Call(MarketoCallPurpose.Realtime, limits).Granted);

            // Crash now: whatever the storage holds must cover every call granted so far.
            var restarted = new QuotaLedger(Instance, _time, harness.Stored);
            var used = restarted.Snapshot(limits).Used;
            Assert.InRange(used, granted, granted + QuotaLedger.ReservationBlock);
        }
        // One write per block, not one per call.
        Assert.Equal(5, harness.Writes);
    }

    [Fact]
    public void After_a_crash_the_count_goes_on_from_the_reservation()
    {
        var limits = new QuotaSettings(50_000, 10, 100, 10);
        var first = NewHarness();
        for (var i = 0; i < 7; i++) first.Call(MarketoCallPurpose.Leads, limits);
        var reserved = first.Stored!.ReservedThrough;
        Assert.Equal(QuotaLedger.ReservationBlock, reserved);

        var second = NewHarness(first.Stored);
        Assert.Equal(reserved, second.Ledger.Snapshot(limits).Used);
        Assert.True(second.Call(MarketoCallPurpose.Leads, limits).Granted);
        Assert.Equal(reserved + 1, second.Ledger.Snapshot(limits).Used);
        Assert.True(second.Stored!.ReservedThrough > reserved);
    }

    [Fact]
    public void A_graceful_stop_stores_the_exact_count()
    {
        var limits = new QuotaSettings(50_000, 10, 100, 10);
        var harness = NewHarness();
        for (var i = 0; i < 7; i++) harness.Call(MarketoCallPurpose.Leads, limits);
        harness.Persist(exact: true);
        var restarted = new QuotaLedger(Instance, _time, harness.Stored);
        Assert.Equal(7, restarted.Snapshot(limits).Used);
        Assert.Equal(7, restarted.Snapshot(limits).ByPurpose["leads"]);
    }

    [Fact]
    public void A_stored_state_of_an_earlier_day_does_not_count_today()
    {
        var limits = new QuotaSettings(50_000, 10, 100, 10);
        var harness = NewHarness();
        harness.Call(MarketoCallPurpose.Leads, limits);
        _time.SetUtcNow(NextCentralMidnight);
        var restarted = new QuotaLedger(Instance, _time, harness.Stored);
        Assert.Equal(0, restarted.Snapshot(limits).Used);
        Assert.Equal(new DateOnly(2026, 11, 29), restarted.Snapshot(limits).Day);
    }

    [Fact]
    public void A_lease_that_is_never_released_frees_its_slot_when_it_expires()
    {
        var limits = new QuotaSettings(50_000, 10, 100, 2);
        var harness = NewHarness();
        Assert.True(harness.Acquire(MarketoCallPurpose.Periodic, limits).Granted);
        Assert.True(harness.Acquire(MarketoCallPurpose.Periodic, limits).Granted);
        var refused = harness.Acquire(MarketoCallPurpose.Periodic, limits);
        Assert.Equal(QuotaDenial.Concurrency, refused.Denial);

        _time.Advance(QuotaLedger.LeaseTimeout - TimeSpan.FromSeconds(1));
        Assert.Equal(QuotaDenial.Concurrency, harness.Acquire(MarketoCallPurpose.Periodic, limits).Denial);

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(harness.Acquire(MarketoCallPurpose.Periodic, limits).Granted);
        // The dead holders' calls stay counted: they may have run.
        Assert.Equal(3, harness.Ledger.Snapshot(limits).Used);
    }

    [Fact]
    public void A_late_release_of_an_expired_lease_changes_nothing()
    {
        var limits = new QuotaSettings(50_000, 10, 100, 1);
        var harness = NewHarness();
        var stale = harness.Acquire(MarketoCallPurpose.Periodic, limits);
        _time.Advance(QuotaLedger.LeaseTimeout);
        var fresh = harness.Acquire(MarketoCallPurpose.Periodic, limits);
        Assert.True(fresh.Granted);
        harness.Release(stale.LeaseId, MarketoCallOutcome.NotCounted);
        Assert.Equal(1, harness.Ledger.InFlight);
        Assert.Equal(QuotaDenial.Concurrency, harness.Acquire(MarketoCallPurpose.Periodic, limits).Denial);
    }

    [Fact]
    public void The_20_second_window_trips_exactly_at_the_limit()
    {
        var limits = new QuotaSettings(50_000, 10, 90, 10);
        var harness = NewHarness();
        for (var i = 0; i < 90; i++) Assert.True(harness.Call(MarketoCallPurpose.Activities, limits).Granted, $"call {i + 1}");

        var refused = harness.Acquire(MarketoCallPurpose.Activities, limits);
        Assert.False(refused.Granted);
        Assert.Equal(QuotaDenial.RateWindow, refused.Denial);
        Assert.Equal(QuotaLedger.Window, refused.RetryAfter);

        _time.Advance(QuotaLedger.Window - TimeSpan.FromMilliseconds(1));
        Assert.Equal(QuotaDenial.RateWindow, harness.Acquire(MarketoCallPurpose.Activities, limits).Denial);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(harness.Call(MarketoCallPurpose.Activities, limits).Granted);
    }

    [Fact]
    public void A_call_stays_in_the_window_until_20_seconds_after_its_release()
    {
        // Marketo saw the call at some instant between grant and release; we keep it until release + 20 s.
        var limits = new QuotaSettings(50_000, 10, 1, 10);
        var harness = NewHarness();
        var permit = harness.Acquire(MarketoCallPurpose.Leads, limits);
        _time.Advance(TimeSpan.FromSeconds(15));
        harness.Release(permit.LeaseId, MarketoCallOutcome.Counted);
        _time.Advance(TimeSpan.FromSeconds(19));
        Assert.Equal(QuotaDenial.RateWindow, harness.Acquire(MarketoCallPurpose.Leads, limits).Denial);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(harness.Acquire(MarketoCallPurpose.Leads, limits).Granted);
    }

    [Fact]
    public void The_reserve_is_left_for_other_integrations()
    {
        var limits = new QuotaSettings(205, 10, 100, 10);
        var harness = NewHarness();
        var granted = 0;
        for (var i = 0; i < 300; i++)
        {
            if (i % 100 == 0) _time.Advance(QuotaLedger.Window);
            if (harness.Call(MarketoCallPurpose.Periodic, limits).Granted) granted++;
        }
        // floor(205 × 90 / 100) = 184.
        Assert.Equal(184, granted);
        var snapshot = harness.Ledger.Snapshot(limits);
        Assert.Equal(184, snapshot.Used);
        Assert.Equal(205, snapshot.Limit);
        Assert.Equal(0, snapshot.Remaining);
        var refused = harness.Acquire(MarketoCallPurpose.Periodic, limits);
        Assert.Equal(QuotaDenial.DailyBudget, refused.Denial);
        Assert.Equal(NextCentralMidnight - _time.GetUtcNow(), refused.RetryAfter);
        // Reservations never run past the budget.
        Assert.True(harness.Stored!.ReservedThrough <= 184);
    }

    [Fact]
    public void Marketo_607_stops_everyone_until_the_Central_midnight_even_across_a_restart()
    {
        var limits = new QuotaSettings(50_000, 10, 90, 8);
        var harness = NewHarness();
        var permit = harness.Acquire(MarketoCallPurpose.Activities, limits);
        var writesBefore = harness.Writes;
        harness.Release(permit.LeaseId, MarketoCallOutcome.DailyQuotaExhausted);
        Assert.Equal(writesBefore + 1, harness.Writes);
        Assert.Equal(NextCentralMidnight, harness.Stored!.StoppedUntil);

        foreach (var purpose in Enum.GetValues<MarketoCallPurpose>())
        {
            var refused = harness.Acquire(purpose, limits);
            Assert.Equal(QuotaDenial.QuotaExhausted, refused.Denial);
            Assert.Equal(NextCentralMidnight - _time.GetUtcNow(), refused.RetryAfter);
        }
        Assert.Equal(0, harness.Ledger.Snapshot(limits).Remaining);

        var restarted = NewHarness(harness.Stored);
        _time.SetUtcNow(NextCentralMidnight - TimeSpan.FromSeconds(1));
        Assert.Equal(QuotaDenial.QuotaExhausted, restarted.Acquire(MarketoCallPurpose.Realtime, limits).Denial);
        _time.SetUtcNow(NextCentralMidnight);
        Assert.True(restarted.Acquire(MarketoCallPurpose.Realtime, limits).Granted);
        Assert.Equal(1, restarted.Ledger.Snapshot(limits).Used);
    }

    [Fact]
    public void A_607_for_a_call_made_yesterday_does_not_stop_today()
    {
        var limits = new QuotaSettings(50_000, 10, 90, 8);
        var harness = NewHarness();
        _time.SetUtcNow(NextCentralMidnight - TimeSpan.FromSeconds(1));
        var permit = harness.Acquire(MarketoCallPurpose.Activities, limits);
        _time.Advance(TimeSpan.FromSeconds(2));
        harness.Release(permit.LeaseId, MarketoCallOutcome.DailyQuotaExhausted);
        Assert.True(harness.Acquire(MarketoCallPurpose.Activities, limits).Granted);
    }

    [Fact]
    public void Marketo_606_pauses_and_lowers_the_rate_then_recovers()
    {
        var limits = new QuotaSettings(50_000, 10, 90, 10);
        var harness = NewHarness();
        harness.Call(MarketoCallPurpose.Realtime, limits, MarketoCallOutcome.RateLimited);

        var paused = harness.Acquire(MarketoCallPurpose.Realtime, limits);
        Assert.Equal(QuotaDenial.BackingOff, paused.Denial);
        Assert.Equal(TimeSpan.FromSeconds(2), paused.RetryAfter);

        _time.Advance(TimeSpan.FromSeconds(2));
        // Half the rate: 45 in the window, and the 606 call is one of them.
        var granted = 0;
        while (harness.Call(MarketoCallPurpose.Realtime, limits).Granted) granted++;
        Assert.Equal(44, granted);

        // Another 606 from a call sent after the first back-off: a longer pause.
        _time.Advance(QuotaLedger.Window - TimeSpan.FromSeconds(1));
        Assert.True(harness.Call(MarketoCallPurpose.Realtime, limits, MarketoCallOutcome.RateLimited).Granted);
        Assert.Equal(TimeSpan.FromSeconds(4), harness.Acquire(MarketoCallPurpose.Realtime, limits).RetryAfter);

        // Quiet windows undo the steps one by one: back to the full 90.
        _time.Advance(TimeSpan.FromSeconds(4) + 2 * QuotaLedger.Window);
        granted = 0;
        while (harness.Call(MarketoCallPurpose.Realtime, limits).Granted) granted++;
        Assert.Equal(90, granted);
    }

    [Fact]
    public void Several_606_answers_to_calls_already_in_flight_count_as_one_step()
    {
        var limits = new QuotaSettings(50_000, 10, 90, 10);
        var harness = NewHarness();
        var inFlight = Enumerable.Range(0, 5).Select(_ => harness.Acquire(MarketoCallPurpose.Realtime, limits)).ToList();
        _time.Advance(TimeSpan.FromMilliseconds(100));
        foreach (var permit in inFlight) harness.Release(permit.LeaseId, MarketoCallOutcome.RateLimited);
        Assert.Equal(TimeSpan.FromSeconds(2), harness.Acquire(MarketoCallPurpose.Realtime, limits).RetryAfter);
    }

    [Fact]
    public void Marketo_615_pauses_and_lowers_the_calls_in_flight()
    {
        var limits = new QuotaSettings(50_000, 10, 90, 8);
        var harness = NewHarness();
        harness.Call(MarketoCallPurpose.Leads, limits, MarketoCallOutcome.ConcurrencyLimited);
        Assert.Equal(QuotaDenial.BackingOff, harness.Acquire(MarketoCallPurpose.Leads, limits).Denial);
        _time.Advance(TimeSpan.FromSeconds(2));
        var held = 0;
        while (harness.Acquire(MarketoCallPurpose.Leads, limits).Granted) held++;
        Assert.Equal(4, held);
    }

    [Fact]
    public void Calls_Marketo_did_not_count_are_given_back()
    {
        var limits = new QuotaSettings(50_000, 10, 90, 8);
        var harness = NewHarness();
        harness.Call(MarketoCallPurpose.Leads, limits);
        harness.Call(MarketoCallPurpose.Leads, limits, MarketoCallOutcome.NotCounted);
        var snapshot = harness.Ledger.Snapshot(limits);
        Assert.Equal(1, snapshot.Used);
        Assert.Equal(1, snapshot.ByPurpose["leads"]);
    }

    [Fact]
    public void The_strictest_limits_of_the_projects_that_asked_apply()
    {
        var lax = new QuotaSettings(50_000, 10, 90, 8);
        var strict = new QuotaSettings(40_000, 20, 5, 8);
        var harness = NewHarness();
        Assert.True(harness.Ledger.Acquire(new QuotaRequest(MarketoCallPurpose.Leads, strict, "strict")) is { NeedsReservation: true });
        harness.Persist();
        var granted = 0;
        for (var i = 0; i < 10; i++)
        {
            if (harness.Acquire(MarketoCallPurpose.Leads, lax, "lax") is { Granted: true } permit)
            {
                granted++;
                harness.Release(permit.LeaseId, MarketoCallOutcome.Counted);
            }
        }
        Assert.Equal(5, granted);
        Assert.Equal(new QuotaSettings(40_000, 20, 5, 8), harness.Ledger.EffectiveLimits);

        // A project that stops asking stops counting after the horizon.
        _time.Advance(QuotaLedger.ProjectLimitsHorizon);
        harness.Acquire(MarketoCallPurpose.Leads, lax, "lax");
        Assert.Equal(lax, harness.Ledger.EffectiveLimits);
    }

    [Fact]
    public void Marketo_usage_raises_the_count_but_never_lowers_it()
    {
        var limits = new QuotaSettings(50_000, 10, 90, 8);
        var harness = NewHarness();
        for (var i = 0; i < 3; i++) harness.Call(MarketoCallPurpose.Leads, limits);
        var today = new DateOnly(2026, 11, 28);

        Assert.False(harness.Ledger.ApplyMarketoUsage(new DailyUsage(today, 2)));
        Assert.Equal(3, harness.Ledger.Snapshot(limits).Used);
        Assert.False(harness.Ledger.ApplyMarketoUsage(new DailyUsage(today.AddDays(-1), 40_000)));
        Assert.Equal(3, harness.Ledger.Snapshot(limits).Used);
        Assert.True(harness.Ledger.ApplyMarketoUsage(new DailyUsage(today, 44_990)));
        Assert.Equal(44_990, harness.Ledger.Snapshot(limits).Used);
        Assert.Equal(10, harness.Ledger.Snapshot(limits).Remaining);

        // The raised count is reserved like any other before the next grant.
        Assert.True(harness.Call(MarketoCallPurpose.Leads, limits).Granted);
        Assert.True(harness.Stored!.ReservedThrough >= 44_991);
    }

    [Fact]
    public void Snapshot_reports_the_day_in_Marketo_terms()
    {
        var limits = new QuotaSettings(50_000, 10, 90, 1);
        var harness = NewHarness();
        harness.Call(MarketoCallPurpose.Realtime, limits);
        harness.Call(MarketoCallPurpose.Activities, limits);
        harness.Call(MarketoCallPurpose.Activities, limits);
        harness.Acquire(MarketoCallPurpose.Other, limits);
        harness.Acquire(MarketoCallPurpose.Leads, limits); // no slot: a denial

        var snapshot = harness.Ledger.Snapshot(limits);
        Assert.Equal(Instance, snapshot.Instance);
        Assert.Equal(new DateOnly(2026, 11, 28), snapshot.Day);
        Assert.Equal(4, snapshot.Used);
        Assert.Equal(50_000, snapshot.Limit);
        Assert.Equal(45_000 - 4, snapshot.Remaining);
        Assert.Equal(NextCentralMidnight, snapshot.ResetsAt);
        Assert.Equal(TimeSpan.FromHours(-6), snapshot.ResetsAt.Offset);
        Assert.Equal(new Dictionary<string, int> { ["realtime"] = 1, ["periodic"] = 0, ["activities"] = 2, ["leads"] = 0, ["other"] = 1 },
            new Dictionary<string, int>(snapshot.ByPurpose));
        Assert.Equal(1, snapshot.Throttled);
    }
}
