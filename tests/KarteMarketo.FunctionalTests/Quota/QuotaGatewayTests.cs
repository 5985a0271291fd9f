using System.Diagnostics;
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
/// The gateway and the quota grain in the real server (co-hosted silo) against the sandbox over real HTTP, both on the
/// test's clock: however many callers push at once, Marketo's limits are never broken, and <c>GET …/quota</c> agrees
/// with what the sandbox counted. Each test has its own sandbox, so its own Marketo instance and quota grain.
/// </summary>
public sealed class QuotaGatewayTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private async Task<(SandboxServer Sandbox, string ProjectId, ProjectSettings Settings)> StartAsync(string projectId)
    {
        var sandbox = await SandboxServer.StartAsync(timeProvider: app.Time);
        sandbox.State.SeedLead("ann@example.com");
        await app.CreateProjectAsync(projectId, sandbox.RestEndpoint, sandbox.IdentityEndpoint, sandbox.ClientId, sandbox.ClientSecret);
        var record = await app.Services.GetRequiredService<IProjectDirectory>().GetAsync(projectId);
        Assert.NotNull(record);
        return (sandbox, projectId, record.Settings);
    }

    private Task<MarketoCall<LeadPage>> LookupAsync(string projectId, ProjectSettings settings,
        MarketoCallPurpose purpose = MarketoCallPurpose.Realtime) =>
        app.Services.GetRequiredService<IMarketoGateway>().CallAsync(projectId, settings, purpose,
            (client, connection, ct) => client.GetLeadsByFilterAsync(connection, "email", ["ann@example.com"], null, null, ct));

    private async Task<JsonObject> GetQuotaAsync(string projectId)
    {
        using var admin = app.CreateAdminClient();
        using var response = await admin.GetAsync($"/v1/projects/{projectId}/quota");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
    }

    [Fact]
    public async Task A_burst_of_callers_never_has_more_than_the_allowed_calls_in_flight()
    {
        var (sandbox, projectId, settings) = await StartAsync("quota-inflight");
        await using var _ = sandbox;
        // Marketo holds every lookup for a second (on the test's clock), so granted calls stay in flight.
        sandbox.State.InjectFault(SandboxFault.Delay(TimeSpan.FromSeconds(1), endpoint: SandboxEndpointNames.GetLeads));

        var callers = Enumerable.Range(0, 50).Select(_ => LookupAsync(projectId, settings)).ToList();
        await sandbox.Counters.WaitForInFlightAsync(settings.Quota.MaxConcurrentCalls).WaitAsync(Patience);
        // Everyone not holding a slot is turned away at once, without reaching Marketo.
        var turnedAway = await FirstCompletedAsync(callers, callers.Count - settings.Quota.MaxConcurrentCalls);
        Assert.All(turnedAway, r => Assert.Equal(DeferReason.Concurrency, Refusal(r).Reason));
        Assert.Equal(settings.Quota.MaxConcurrentCalls, sandbox.Counters.InFlight);

        app.Time.Advance(TimeSpan.FromSeconds(1));
        var results = await Task.WhenAll(callers).WaitAsync(Patience);

        Assert.Equal(8, results.Count(r => r.Outcome is MarketoOutcome.Completed));
        Assert.Equal(42, results.Count(r => r.Attempts == 0));
        Assert.Equal(8, sandbox.Counters.MaxInFlight);
        Assert.Empty(sandbox.Counters.Breaches);

        var quota = await GetQuotaAsync(projectId);
        Assert.Equal(sandbox.State.UsedToday, quota["used"]!.GetValue<int>());
        Assert.Equal(42, quota["throttled"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_minute_of_bursts_stays_inside_the_20_second_window_and_quota_matches_the_sandbox()
    {
        var (sandbox, projectId, settings) = await StartAsync("quota-window");
        await using var _ = sandbox;
        var granted = 0;
        var rateDenials = 0;

        // 30 rounds, 2 s apart on the test's clock: 100 callers at once each time. A caller turned away for want of a
        // slot asks again at once (slots free in real time); one turned away by the window gives up for the round.
        for (var round = 0; round < 30; round++)
        {
            var outcomes = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => PersistentCallerAsync(projectId, settings)))
                .WaitAsync(Patience);
            granted += outcomes.Count(o => o is null);
            rateDenials += outcomes.Count(o => o == DeferReason.RateWindow);
            Assert.DoesNotContain(outcomes, o => o is not (null or DeferReason.RateWindow));
            app.Time.Advance(TimeSpan.FromSeconds(2));
        }

        // 90 per window (the project's callsPer20Seconds), three windows in the minute.
        Assert.Equal(270, granted);
        Assert.Equal(3000 - 270, rateDenials);
        Assert.Equal(270, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads, SandboxCallCodes.Success));
        Assert.Equal(90, sandbox.Counters.MaxCallsInWindow);
        Assert.InRange(sandbox.Counters.MaxInFlight, 1, 8);
        Assert.Empty(sandbox.Counters.Breaches);

        var quota = await GetQuotaAsync(projectId);
        Assert.Equal(MarketoInstance.FromEndpoint(sandbox.RestEndpoint.ToString()), quota["instance"]!.GetValue<string>());
        Assert.Equal("2026-11-28", quota["day"]!.GetValue<string>());
        Assert.Equal(sandbox.State.UsedToday, quota["used"]!.GetValue<int>());
        Assert.Equal(270, quota["used"]!.GetValue<int>());
        Assert.Equal(50_000, quota["limit"]!.GetValue<int>());
        Assert.Equal(45_000 - 270, quota["remaining"]!.GetValue<int>());
        Assert.Equal("2026-11-29T00:00:00-06:00", quota["resetsAt"]!.GetValue<string>());
        var byPurpose = quota["byPurpose"]!.AsObject();
        Assert.Equal(["activities", "leads", "other", "periodic", "realtime"], byPurpose.Select(kv => kv.Key).Order().ToArray());
        Assert.Equal(270, byPurpose["realtime"]!.GetValue<int>());
        Assert.True(quota["throttled"]!.GetValue<int>() >= rateDenials);

        // The same story on /metrics (the service's meter).
        using var admin = app.CreateAdminClient();
        var metrics = await admin.GetStringAsync("/metrics");
        Assert.Matches("kartemarketo_marketo_calls[a-z_]*\\{[^}]*outcome=\"counted\"[^}]*purpose=\"realtime\"", metrics);
        Assert.Matches("kartemarketo_quota_denials[a-z_]*\\{[^}]*purpose=\"realtime\"[^}]*reason=\"rate_window\"", metrics);
    }

    [Fact]
    public async Task Marketo_usage_from_other_integrations_is_picked_up_under_a_permit_of_its_own()
    {
        var (sandbox, projectId, settings) = await StartAsync("quota-reconcile");
        await using var _ = sandbox;
        Assert.True((await LookupAsync(projectId, settings, MarketoCallPurpose.Periodic)).Outcome is MarketoOutcome.Completed);
        sandbox.State.SetUsedToday(5_000);

        app.Time.Advance(TimeSpan.FromMinutes(5));
        // The grain's timer reads stats/usage.json on its own; wait (in real time) until its answer is applied.
        var quota = await EventuallyAsync(() => GetQuotaAsync(projectId), q => q["used"]!.GetValue<int>() >= 5_000);

        Assert.Equal(1, sandbox.Counters.CallsTo(SandboxEndpointNames.Usage, SandboxCallCodes.Success));
        // Ours (1 lookup + the usage call itself) raised to Marketo's total, which includes both.
        Assert.Equal(5_002, sandbox.State.UsedToday);
        Assert.Equal(5_002, quota["used"]!.GetValue<int>());
        Assert.Equal(45_000 - 5_002, quota["remaining"]!.GetValue<int>());
        Assert.Equal(1, quota["byPurpose"]!["periodic"]!.GetValue<int>());
        Assert.Equal(1, quota["byPurpose"]!["other"]!.GetValue<int>());
        Assert.Empty(sandbox.Counters.Breaches);
    }

    [Fact]
    public async Task Each_retry_of_the_usage_read_takes_a_permit_of_its_own()
    {
        var (sandbox, projectId, settings) = await StartAsync("quota-reconcile-retries");
        await using var _ = sandbox;
        Assert.True((await LookupAsync(projectId, settings, MarketoCallPurpose.Periodic)).Outcome is MarketoOutcome.Completed);
        sandbox.State.InjectFault(SandboxFault.Http(503, count: 2, endpoint: SandboxEndpointNames.Usage));

        // The client's retries wait on the test clock: move it a second at a time until the read got through.
        app.Time.Advance(TimeSpan.FromMinutes(5));
        var watch = Stopwatch.StartNew();
        while (sandbox.Counters.CallsTo(SandboxEndpointNames.Usage, SandboxCallCodes.Success) == 0 && watch.Elapsed < Patience)
        {
            app.Time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System);
        }

        var reads = sandbox.Counters.CallsTo(SandboxEndpointNames.Usage);
        Assert.Equal(3, reads);     // two 503s, then the answer
        // Every attempt is counted (a 5xx may have reached Marketo's count), so ours never falls below the sandbox's.
        var quota = await EventuallyAsync(() => GetQuotaAsync(projectId), q => q["byPurpose"]!["other"]!.GetValue<int>() >= reads);
        Assert.Equal(reads, quota["byPurpose"]!["other"]!.GetValue<int>());
        Assert.True(quota["used"]!.GetValue<int>() >= sandbox.State.UsedToday);
        Assert.Empty(sandbox.Counters.Breaches);
    }

    [Fact]
    public async Task Quota_of_an_unknown_project_is_404_and_needs_the_admin_key()
    {
        using var admin = app.CreateAdminClient();
        using var missing = await admin.GetAsync("/v1/projects/no-such-project/quota");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("application/problem+json", missing.Content.Headers.ContentType?.MediaType);

        using var anonymous = app.CreateClient();
        using var unauthorized = await anonymous.GetAsync("/v1/projects/no-such-project/quota");
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
    }

    /// <summary>One caller that wants one call: retries while only the in-flight slots are full. Null: it got its call.</summary>
    private async Task<DeferReason?> PersistentCallerAsync(string projectId, ProjectSettings settings)
    {
        for (var attempt = 0; attempt < 100_000; attempt++)
        {
            var result = await LookupAsync(projectId, settings);
            if (result.Attempts > 0)
            {
                Assert.True(result.Outcome is MarketoOutcome.Completed, $"lookup failed: {result.Outcome}");
                return null;
            }
            var reason = Refusal(result).Reason;
            if (reason != DeferReason.Concurrency) return reason;
            await Task.Yield();
        }
        throw new TimeoutException("no slot became free");
    }

    private static async Task<List<T>> FirstCompletedAsync<T>(IReadOnlyList<Task<T>> tasks, int count)
    {
        var pending = tasks.ToList();
        var done = new List<T>();
        while (done.Count < count)
        {
            var next = await Task.WhenAny(pending).WaitAsync(Patience);
            pending.Remove(next);
            done.Add(await next);
        }
        return done;
    }

    /// <summary>For effects of a grain timer, which runs on its own: polls until <paramref name="done"/> or a real-time
    /// deadline. The test's clock does not move meanwhile.</summary>
    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var value = await read();
            if (done(value) || watch.Elapsed > Patience) return value;
            await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System);
        }
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
