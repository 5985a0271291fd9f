using System.Net;
using System.Text.Json.Nodes;
using KarteMarketo.Contracts.Projects;
using KarteMarketo.Contracts.Quota;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.Grains.Marketo;
using KarteMarketo.Grains.Projects;
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

    /// <summary>Our quota's refusal: nothing was sent, and the call is deferred with the quota's reason and wait.</summary>
    private static MarketoOutcome.Deferred Refusal<T>(MarketoCall<T> call)
    {
        Assert.Equal(0, call.Attempts);
        var deferred = Assert.IsType<MarketoOutcome.Deferred>(call.Outcome);
        Assert.True(deferred.Reason.IsOurQuota(), $"deferred by Marketo, not by our quota: {deferred}");
        return deferred;
    }
}
