using System.Net;
using System.Text.Json.Nodes;
using KarteMarketo.Contracts.Projects;
using KarteMarketo.Contracts.Quota;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.Grains.Marketo;
using KarteMarketo.Grains.Projects;
using KarteMarketo.Grains.Quota;
using KarteMarketo.Marketo;
using KarteMarketo.MarketoSandbox;
using Microsoft.Extensions.DependencyInjection;

namespace KarteMarketo.FunctionalTests.Quota;

/// <summary>
/// When Marketo itself says no (other integrations share the instance): 606 slows everyone down, 607 stops every
/// call on the instance until the Central midnight. The sandbox's limits are set below the project's on purpose.
/// </summary>
public sealed class QuotaMarketoLimitTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    private async Task<(SandboxServer Sandbox, ProjectSettings Settings)> StartAsync(string projectId, SandboxOptions options)
    {
        var sandbox = await SandboxServer.StartAsync(options, app.Time);
        sandbox.State.SeedLead("ann@example.com");
        await app.CreateProjectAsync(projectId, sandbox.RestEndpoint, sandbox.IdentityEndpoint, sandbox.ClientId, sandbox.ClientSecret);
        var record = await app.Services.GetRequiredService<IProjectDirectory>().GetAsync(projectId);
        return (sandbox, record!.Settings);
    }

    private Task<MarketoCall<LeadPage>> LookupAsync(string projectId, ProjectSettings settings) =>
        app.Services.GetRequiredService<IMarketoGateway>().CallAsync(projectId, settings, MarketoCallPurpose.Periodic,
            (client, connection, ct) => client.GetLeadsByFilterAsync(connection, "email", ["ann@example.com"], null, null, ct));

    [Fact]
    public async Task Marketo_606_makes_every_caller_pause_longer_each_time()
    {
        var (sandbox, settings) = await StartAsync("quota-606", new SandboxOptions { RateLimitCalls = 10 });
        await using var _ = sandbox;

        for (var i = 0; i < 10; i++) Assert.True((await LookupAsync("quota-606", settings)).Outcome is MarketoOutcome.Completed);
        var limited = await LookupAsync("quota-606", settings);
        Assert.Equal(DeferReason.MarketoRateLimited, Assert.IsType<MarketoOutcome.Deferred>(limited.Outcome).Reason);
        Assert.Equal(1, limited.Attempts);

        var paused = await LookupAsync("quota-606", settings);
        Assert.Equal(DeferReason.BackingOff, Refusal(paused).Reason);
        Assert.Equal(TimeSpan.FromSeconds(2), Refusal(paused).Delay);

        // After the pause Marketo's window is still full: one more 606, and a longer pause.
        app.Time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(DeferReason.MarketoRateLimited, Assert.IsType<MarketoOutcome.Deferred>((await LookupAsync("quota-606", settings)).Outcome).Reason);
        var longer = await LookupAsync("quota-606", settings);
        Assert.Equal(DeferReason.BackingOff, Refusal(longer).Reason);
        Assert.Equal(TimeSpan.FromSeconds(4), Refusal(longer).Delay);

        // Once Marketo's window has slid, calls go through again; nothing was sent while paused.
        app.Time.Advance(TimeSpan.FromSeconds(20));
        Assert.True((await LookupAsync("quota-606", settings)).Outcome is MarketoOutcome.Completed);
        Assert.Equal(2, sandbox.Counters.Breaches.Count);
        Assert.Equal(13, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads));
    }

    [Fact]
    public async Task Marketo_607_stops_every_call_on_the_instance_until_the_Central_midnight()
    {
        var (sandbox, settings) = await StartAsync("quota-607", new SandboxOptions { DailyQuota = 5 });
        await using var _ = sandbox;
        // A second project on the same instance shares the stop.
        await app.CreateProjectAsync("quota-607-b", sandbox.RestEndpoint, sandbox.IdentityEndpoint, sandbox.ClientId, sandbox.ClientSecret);
        var other = (await app.Services.GetRequiredService<IProjectDirectory>().GetAsync("quota-607-b"))!.Settings;

        for (var i = 0; i < 5; i++) Assert.True((await LookupAsync("quota-607", settings)).Outcome is MarketoOutcome.Completed);
        Assert.Equal(DeferReason.MarketoDailyQuota, Assert.IsType<MarketoOutcome.Deferred>((await LookupAsync("quota-607", settings)).Outcome).Reason);

        var now = app.Time.GetUtcNow();
        // The sandbox's own idea of Marketo's reset (written independently of ours).
        var midnight = sandbox.State.NextQuotaReset;
        foreach (var (projectId, projectSettings) in new[] { ("quota-607", settings), ("quota-607-b", other) })
        {
            var stopped = await LookupAsync(projectId, projectSettings);
            Assert.Equal(DeferReason.QuotaExhausted, Refusal(stopped).Reason);
            Assert.Equal(midnight - now, Refusal(stopped).Delay);
        }
        Assert.Equal(6, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads));

        using var admin = app.CreateAdminClient();
        var quota = JsonNode.Parse(await admin.GetStringAsync("/v1/projects/quota-607-b/quota"))!;
        Assert.Equal(0, quota["remaining"]!.GetValue<int>());
        Assert.True(quota["used"]!.GetValue<int>() >= sandbox.State.UsedToday);

        app.Time.SetUtcNow(midnight - TimeSpan.FromSeconds(1));
        Assert.Equal(DeferReason.QuotaExhausted, Refusal((await LookupAsync("quota-607", settings))).Reason);
        app.Time.SetUtcNow(midnight);
        Assert.True((await LookupAsync("quota-607", settings)).Outcome is MarketoOutcome.Completed);
        Assert.Equal(7, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads));
        Assert.Equal(SandboxLimit.DailyQuota, Assert.Single(sandbox.Counters.Breaches).Limit);
    }

    [Fact]
    public async Task A_607_just_after_our_midnight_does_not_close_the_instance_for_a_whole_day()
    {
        // Marketo's "12:00 AM CST" an hour after our Central midnight (fixed UTC−6 against CDT, or a drifting clock):
        // the sandbox keeps its quota day an hour behind ours.
        var ourMidnight = MarketoDay.NextResetAfter(app.Time.GetUtcNow());
        var behind = -(int)MarketoDay.Zone.GetUtcOffset(ourMidnight).TotalHours + 1;
        var (sandbox, settings) = await StartAsync("quota-607-midnight",
            new SandboxOptions { DailyQuota = 1_000, QuotaTimeZoneId = $"Etc/GMT+{behind}" });
        await using var _ = sandbox;

        // Before our midnight: Marketo's day is spent, and we stop until our midnight, as ever.
        app.Time.SetUtcNow(ourMidnight - TimeSpan.FromMinutes(30));
        var marketoMidnight = sandbox.State.NextQuotaReset;
        Assert.Equal(ourMidnight + TimeSpan.FromHours(1), marketoMidnight);
        Assert.True((await LookupAsync("quota-607-midnight", settings)).Outcome is MarketoOutcome.Completed);
        sandbox.State.DailyQuota = sandbox.State.UsedToday;
        var before = await StoppedAsync("quota-607-midnight", settings);
        Assert.Equal(ourMidnight - app.Time.GetUtcNow(), before.Delay);

        // Ten minutes into our day Marketo still counts its yesterday and answers 607 again. Booked to our new day,
        // that 607 used to stop every call until the next midnight, about 24 hours; now it stops them briefly
        // while Marketo's own count (stats/usage.json) is asked for.
        app.Time.SetUtcNow(ourMidnight + TimeSpan.FromMinutes(10));
        var early = await StoppedAsync("quota-607-midnight", settings);
        Assert.InRange(early.Delay, TimeSpan.FromSeconds(1), QuotaLedger.DoubtRecheck);
        var lookupsWhileStopped = sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads);
        Assert.Equal(DeferReason.QuotaExhausted, Refusal(await LookupAsync("quota-607-midnight", settings)).Reason);
        Assert.Equal(lookupsWhileStopped, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads));

        // Marketo's day turns an hour after ours: calls flow again the same morning, not the next one.
        app.Time.SetUtcNow(marketoMidnight + TimeSpan.FromMinutes(1));
        sandbox.State.DailyQuota = 1_000;
        var after = await LookupAsync("quota-607-midnight", settings);
        Assert.True(after.Outcome is MarketoOutcome.Completed, $"still stopped after Marketo's reset: {after.Outcome}");
        Assert.Equal(lookupsWhileStopped + 1, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads));
    }

    /// <summary>Looks up until our quota refuses (Marketo's 607 answers on the way, from this lookup or from the
    /// silo's usage reading, each stop the instance), and returns the refusal.</summary>
    private async Task<MarketoOutcome.Deferred> StoppedAsync(string projectId, ProjectSettings settings)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var call = await LookupAsync(projectId, settings);
            if (call.Attempts == 0) return Refusal(call);
            Assert.Equal(DeferReason.MarketoDailyQuota, Assert.IsType<MarketoOutcome.Deferred>(call.Outcome).Reason);
        }
        throw new Xunit.Sdk.XunitException("a 607 did not stop the instance");
    }

    /// <summary>Our quota's refusal: nothing was sent, and the call is deferred with the quota's reason and wait.</summary>
    private static MarketoOutcome.Deferred Refusal<T>(MarketoCall<T> call)
    {
        Assert.Equal(0, call.Attempts);
        var deferred = Assert.IsType<MarketoOutcome.Deferred>(call.Outcome);
        Assert.True(deferred.Reason.IsOurQuota(), $"deferred by Marketo, not by our quota: {deferred}");
        return deferred;
    }
}
