using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.MarketoSandbox;
using static KarteMarketo.FunctionalTests.Sync.SyncTestKit;

namespace KarteMarketo.FunctionalTests.Sync;

/// <summary>The sync under a small daily quota: what the budget does not allow waits for Marketo's midnight (US Central).</summary>
public sealed class QuotaSyncTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    private static readonly TimeZoneInfo Central = TimeZoneInfo.FindSystemTimeZoneById("America/Chicago");

    private static Action<System.Text.Json.Nodes.JsonObject> DailyLimit(int limit) => settings =>
        settings["quota"] = new System.Text.Json.Nodes.JsonObject { ["dailyLimit"] = limit, ["reservePercent"] = 10 };

    private static DateOnly CentralDay(DateTimeOffset at) => DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(at, Central).DateTime);

    /// <summary>The next midnight in Marketo's day (US Central), plus a minute.</summary>
    private static TimeSpan UntilAfterCentralMidnight(DateTimeOffset now)
    {
        var local = TimeZoneInfo.ConvertTime(now, Central);
        var nextMidnight = local.Date.AddDays(1);
        var midnight = new DateTimeOffset(nextMidnight, Central.GetUtcOffset(nextMidnight));
        return midnight - now + TimeSpan.FromMinutes(1);
    }

    [Fact]
    public async Task Thirty_thousand_emails_with_a_daily_limit_of_20_spend_at_most_18_calls_a_day_until_all_are_synced()
    {
        const int users = 30_000;
        await using var kit = await StartAsync(app, "quota-bulk",
            Settings(realtime: false, periodic: true, intervalMinutes: 240, more: DailyLimit(20)),
            new SandboxOptions { DailyQuota = 20 },
            seed: s => { for (var i = 0; i < users; i++) s.SeedLead($"bulk{i}@example.com"); });

        // 30 requests of 1,000 events; each request's emails are queued in bulk before its 202.
        await kit.SendAsync([.. Enumerable.Range(0, users).Select(i => Identify($"bulk-{i}", $"bulk{i}@example.com"))]);
        await kit.AdvanceAsync(TimeSpan.FromSeconds(1));
        await WaitUntilAsync(async () => (await kit.SchedulerStatusAsync()).Pending == users, "30,000 emails pending");

        // Day 1 on the reminder's tick; then, day after day, right after Marketo's midnight, with sync/run (the same run).
        await kit.AdvanceToNextTickAsync(TimeSpan.FromMinutes(240));
        for (var day = 1; ; day++)
        {
            await WaitUntilAsync(async () => (await kit.SchedulerStatusAsync()).Running == 0, $"day {day}: run stopped or done",
                TimeSpan.FromSeconds(90), () => kit.DumpAsync());
            var status = await kit.SchedulerStatusAsync();
            if (status.Pending == 0) break;
            Assert.True(day < 8, $"not all synced within 7 days: {status}");
            Assert.NotNull(status.LastError);    // why it stopped: the day's budget

            await kit.AdvanceAsync(UntilAfterCentralMidnight(app.Time.GetUtcNow()));
            using var run = await kit.Admin.PostAsync($"/v1/projects/{kit.ProjectId}/sync/run", null);
            Assert.Equal(System.Net.HttpStatusCode.Accepted, run.StatusCode);
        }

        await WaitUntilAsync(async () => await kit.SegmentCountAsync("marketo-lead-synced") == users, "all 30,000 synced");
        var perDay = kit.Sandbox.Counters.Calls.Where(c => c.Counted).GroupBy(c => CentralDay(c.At)).ToDictionary(g => g.Key, g => g.Count());
        Assert.All(perDay, day => Assert.True(day.Value <= 18, $"{day.Key}: {day.Value} calls"));
        Assert.True(perDay.Count >= 6, $"100 lookups at no more than 18 calls a day take 6 days or more, got {perDay.Count}");
        Assert.Equal(users, kit.Sandbox.Counters.LookupValues);   // each email looked up exactly once
        Assert.Equal(100, kit.LookupCalls);
        kit.AssertMarketoLimitsKept();
    }

    [Fact]
    public async Task Realtime_lookups_without_a_permit_are_deferred_without_starting_the_window_and_retried_after_the_reset()
    {
        // dailyLimit 5 less 10 % is 4 calls: describe and three lookups of 300. The fourth batch gets no permit.
        const int users = 1_200;
        await using var kit = await StartAsync(app, "quota-realtime",
            Settings(realtime: true, batchDelayMs: 1000, periodic: false, more: DailyLimit(5)),
            new SandboxOptions { DailyQuota = 5 },
            seed: s => { for (var i = 0; i < users; i++) s.SeedLead($"rt{i}@example.com"); });

        await kit.SendAsync([.. Enumerable.Range(0, users).Select(i => Identify($"rt-{i}", $"rt{i}@example.com"))]);
        await kit.AdvanceAsync(TimeSpan.FromSeconds(1));
        await WaitUntilAsync(async () => await kit.SegmentCountAsync("marketo-lead-synced") == 900, "900 synced on day 1",
            TimeSpan.FromSeconds(30), async () => $"synced {await kit.SegmentCountAsync("marketo-lead-synced")}\n"
                + await kit.DumpAsync("rt-0", "rt-450", "rt-899", "rt-1199"));

        var deferred = new List<string>();
        await WaitUntilAsync(async () =>
        {
            deferred.Clear();
            for (var i = 0; i < users; i++)
                if (LastResultOf(await kit.GetUserAsync($"rt-{i}")) == "deferred") deferred.Add($"rt-{i}");
            return deferred.Count == 300;
        }, "300 users deferred", TimeSpan.FromSeconds(20));

        Assert.Equal(3, kit.LookupCalls);
        Assert.True(kit.Sandbox.Counters.Calls.Count(c => c.Counted) <= 4);
        foreach (var userId in deferred.Take(20))
        {
            var user = (await kit.GetUserAsync(userId))!;
            Assert.Null((string?)user["sync"]!["lastRequestAt"]);     // the window was not started
            Assert.NotNull((string?)user["sync"]!["lastError"]);
        }

        // Same day: still nothing for them, and no call.
        await kit.SendAsync([.. deferred.Select(u => Identify(u, $"{u.Replace("rt-", "rt")}@example.com"))]);
        await kit.AdvanceAsync(TimeSpan.FromSeconds(1));
        await WaitUntilAsync(async () => LastResultOf(await kit.GetUserAsync(deferred[^1])) == "deferred", "still deferred");
        Assert.Equal(3, kit.LookupCalls);

        // After Marketo's midnight the next identify tries again: one call for the 300.
        await kit.AdvanceAsync(UntilAfterCentralMidnight(app.Time.GetUtcNow()));
        await kit.SendAsync([.. deferred.Select(u => Identify(u, $"{u.Replace("rt-", "rt")}@example.com"))]);
        await kit.AdvanceUntilAsync(TimeSpan.FromSeconds(1), async () => await kit.SegmentCountAsync("marketo-lead-synced") == users,
            "deferred users synced after the reset", diagnostics: () => kit.DumpAsync(deferred[0]));
        Assert.Equal(4, kit.LookupCalls);   // the 300 deferred users in one call
        kit.AssertMarketoLimitsKept();
    }
}
