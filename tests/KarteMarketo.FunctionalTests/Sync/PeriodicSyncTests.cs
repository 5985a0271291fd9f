using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.MarketoSandbox;
using static KarteMarketo.FunctionalTests.Sync.SyncTestKit;

namespace KarteMarketo.FunctionalTests.Sync;

/// <summary>The periodic sync: emails gathered per silo, handed to the scheduler in bulk, looked up 300 per call on the
/// reminder's tick or on sync/run.</summary>
public sealed class PeriodicSyncTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    [Fact]
    public async Task Emails_seen_in_the_interval_are_looked_up_on_the_tick_300_per_call()
    {
        await using var kit = await StartAsync(app, "periodic-tick", Settings(realtime: false, periodic: true, intervalMinutes: 30),
            seed: s => { for (var i = 0; i < 700; i++) s.SeedLead($"tick{i}@example.com", ("lastName", $"T{i}")); });

        await kit.SendAsync([.. Enumerable.Range(0, 700).Select(i => Identify($"tick-{i}", $"tick{i}@example.com"))]);
        // The same emails again within the interval: still one lookup each.
        await kit.SendAsync([.. Enumerable.Range(0, 700).Select(i => Identify($"tick-{i}", $"TICK{i}@example.com"))]);

        // Stored before the 202: all waiting at once, without the clock moving (nothing is buffered in memory).
        Assert.Equal(700, (await kit.SchedulerStatusAsync()).Pending);
        Assert.Equal(0, kit.LookupCalls);     // nothing before the tick
        Assert.Equal(30, (await kit.SchedulerStatusAsync()).ReminderIntervalMinutes);

        await kit.AdvanceToNextTickAsync(TimeSpan.FromMinutes(30));
        await WaitUntilAsync(async () => await kit.SegmentCountAsync("marketo-lead-synced") == 700, "700 users synced on the tick",
            diagnostics: () => kit.DumpAsync("tick-0"));

        Assert.Equal(3, kit.LookupCalls);     // 300 + 300 + 100
        Assert.Equal(700, kit.Sandbox.Counters.LookupValues);
        var status = await kit.SchedulerStatusAsync();
        Assert.Equal(0, status.Pending);
        Assert.Equal(0, status.Running);
        Assert.NotNull(status.LastRunCompletedAt);
        Assert.Equal("T5", (string?)(await kit.GetUserAsync("tick-5"))!["identify"]!["marketo"]!["lastName"]);

        // The next interval: only what was seen since, on the next tick.
        kit.Sandbox.State.SeedLead("later@example.com");
        await kit.SendAsync([Identify("later", "later@example.com"), Identify("tick-1", "tick1@example.com")]);
        await kit.AdvanceAsync(TimeSpan.FromSeconds(1));
        await WaitUntilAsync(async () => (await kit.SchedulerStatusAsync()).Pending == 2, "2 emails pending");
        await kit.AdvanceToNextTickAsync(TimeSpan.FromMinutes(30));
        await WaitUntilAsync(async () => LeadIdOf(await kit.GetUserAsync("later")) is not null, "later synced on the next tick",
            diagnostics: () => kit.DumpAsync("later"));
        Assert.Equal(4, kit.LookupCalls);
        Assert.Equal(702, kit.Sandbox.Counters.LookupValues);

        kit.AssertMarketoLimitsKept();
    }

    [Fact]
    public async Task The_reminder_follows_the_settings()
    {
        await using var kit = await StartAsync(app, "periodic-settings", Settings(realtime: false, periodic: true, intervalMinutes: 30));
        Assert.Equal(30, (await kit.SchedulerStatusAsync()).ReminderIntervalMinutes);    // registered by the PUT, no identify needed

        async Task PutAsync(bool enabled, int interval)
        {
            var settings = new JsonObject
            {
                ["marketo"] = new JsonObject
                {
                    ["clientId"] = kit.Sandbox.ClientId, ["clientSecret"] = kit.Sandbox.ClientSecret,
                    ["endpoint"] = kit.Sandbox.RestEndpoint.ToString(), ["identity"] = kit.Sandbox.IdentityEndpoint.ToString(),
                },
            };
            Settings(realtime: false, periodic: enabled, intervalMinutes: interval)(settings);
            using var response = await kit.Admin.PutAsJsonAsync($"/v1/projects/{kit.ProjectId}/settings", settings);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await PutAsync(true, 45);
        Assert.Equal(45, (await kit.SchedulerStatusAsync()).ReminderIntervalMinutes);
        await PutAsync(false, 45);
        Assert.Null((await kit.SchedulerStatusAsync()).ReminderIntervalMinutes);
    }

    [Fact]
    public async Task Sync_run_looks_up_the_emails_seen_at_once()
    {
        await using var kit = await StartAsync(app, "periodic-run", Settings(realtime: false, periodic: true, intervalMinutes: 60),
            seed: s => { for (var i = 0; i < 400; i++) s.SeedLead($"run{i}@example.com"); });
        await kit.SendAsync([.. Enumerable.Range(0, 450).Select(i => Identify($"run-{i}", $"run{i}@example.com"))]);

        using var response = await kit.Admin.PostAsync($"/v1/projects/{kit.ProjectId}/sync/run", null);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(450, (int)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["queued"]!);

        // No clock movement needed.
        await WaitUntilAsync(async () => (await kit.SchedulerStatusAsync()).Running == 0
            && await kit.SegmentCountAsync("marketo-lead-synced") == 400, "400 users synced by sync/run");
        Assert.Equal(2, kit.LookupCalls);
        Assert.Equal("notFound", LastResultOf(await kit.GetUserAsync("run-420")));

        // Project key is not enough for sync/run.
        using var asProject = await kit.Events.PostAsync($"/v1/projects/{kit.ProjectId}/sync/run", null);
        Assert.Equal(HttpStatusCode.Forbidden, asProject.StatusCode);
        kit.AssertMarketoLimitsKept();
    }
}
