using Xunit.Abstractions;
using System.Diagnostics;
using System.Text.Json.Nodes;
using KarteMarketo.IntegrationTests.Cluster.Reliability;
using KarteMarketo.IntegrationTests.Infrastructure;

namespace KarteMarketo.IntegrationTests.Cluster;

/// <summary>
/// Marketo misbehaving for 60 s while the service syncs and delivers, every fault at once: one three-host cluster, one
/// project per fault, each project on its own sandbox process (its own port, so its own Marketo instance and quota).
/// After the faults are cleared the service must recover by itself: everything accepted applied exactly once (or,
/// after a 607, kept pending until Marketo's midnight), no limit broken, and the state readable through the API.
/// </summary>
public sealed class MarketoFaultMatrixTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Before = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan FaultFor = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan After = TimeSpan.FromSeconds(10);

    private sealed record Fault(string Name, string Id, Func<MarketoInstance, Task> Inject, bool QuotaExhausted = false, bool Refused = false);

    private static JsonObject Http(int status) => new() { ["kind"] = "HttpError", ["httpStatus"] = status };
    private static JsonObject MarketoError(string code) => new() { ["kind"] = "MarketoError", ["errorCode"] = code };

    private static readonly Fault[] Faults =
    [
        new("HTTP 500", "f-http500", m => m.InjectFaultAsync(Http(500))),
        new("HTTP 502", "f-http502", m => m.InjectFaultAsync(Http(502))),
        new("HTTP 503", "f-http503", m => m.InjectFaultAsync(Http(503))),
        new("time-outs (calls hang)", "f-hang", m => m.InjectFaultAsync(new JsonObject { ["kind"] = "Hang" })),
        // Hang first so that nothing is half-applied when the process dies; then the port refuses connections.
        new("connection refused (sandbox down)", "f-refused", async m =>
        {
            await m.InjectFaultAsync(new JsonObject { ["kind"] = "Hang" });
            await m.StopAsync();
        }, Refused: true),
        new("tokens expire every 3 s", "f-tokens", m => m.SetTokenExpiryAsync(3)),
        new("606 storm", "f-606", m => m.InjectFaultAsync(MarketoError("606"))),
        new("615 storm", "f-615", m => m.InjectFaultAsync(MarketoError("615"))),
        new("607 mid-day", "f-607", m => m.InjectFaultAsync(MarketoError("607")), QuotaExhausted: true),
        new("1006 for a custom field", "f-1006", m => m.FailFieldAsync(ReliabilityProject.CustomField)),
    ];

    [Fact]
    public async Task Every_Marketo_fault_at_once_for_60_s_then_cleared_loses_nothing_and_breaks_no_limit()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        var instancesStart = Task.WhenAll(Faults.Select(_ => MarketoInstance.StartAsync()));
        await using var cluster = await ThreeHostCluster.StartAsync(db.ConnectionString);
        cluster.LogName = "fault-matrix";
        var instances = await instancesStart;
        try
        {
            var projects = Faults.Select((f, i) => new ReliabilityProject(f.Id, instances[i])).ToArray();
            await Task.WhenAll(projects.Select(p => p.SeedMarketoAsync(leads: 40)));
            foreach (var project in projects) await project.CreateAsync(cluster);

            using var stopSampling = new CancellationTokenSource();
            var sampling = Load.SampleQuotaAsync(cluster, projects, stopSampling.Token);
            var clock = Stopwatch.StartNew();
            var load = Load.RunAsync(cluster, projects, Before + FaultFor + After, TimeSpan.FromMilliseconds(800));

            await Task.Delay(Before);
            await Task.WhenAll(Faults.Select((f, i) => f.Inject(instances[i])));
            output.WriteLine($"{clock.Elapsed}: all faults injected");
            await Task.Delay(FaultFor);
            var clearedAt = await Task.WhenAll(Faults.Select(async (f, i) =>
            {
                await ClearAsync(f, projects[i]);
                return clock.Elapsed;
            }));
            output.WriteLine($"{clock.Elapsed}: all faults cleared");
            await load;
            var verifyFrom = clock.Elapsed;

            // Verify all projects together; each gets its own recovery time (from the clearing).
            var verifications = await Task.WhenAll(projects.Select((p, i) => Load.UntilCompleteAsync(
                () => p.VerifyAsync(cluster, Faults[i].QuotaExhausted), TimeSpan.FromSeconds(200))));
            await stopSampling.CancelAsync();
            await sampling;

            var rows = new List<SummaryRow>();
            for (var i = 0; i < Faults.Length; i++)
            {
                var (result, completeAfter) = verifications[i];
                // From the clearing until the first complete check (the checks start once the load has ended).
                var recovery = completeAfter is { } a ? verifyFrom - clearedAt[i] + a : (TimeSpan?)null;
                output.WriteLine($"{Faults[i].Name}: {result.Describe()}");
                rows.Add(new SummaryRow(Faults[i].Name, result.Requests, result.Accepted, result.Delivered, result.Duplicates, result.Breaches,
                    Faults[i].QuotaExhausted ? "at Central midnight (by design)" : ReliabilitySummary.Seconds(recovery),
                    await NotesAsync(cluster, projects[i], Faults[i], result)));
            }
            ReliabilitySummary.Add(rows, output);

            for (var i = 0; i < Faults.Length; i++)
            {
                var (result, _) = verifications[i];
                var name = Faults[i].Name;
                Assert.True(result.Unclear == 0, $"{name}: unclear answers: {result.Describe()}");
                // Only Marketo is down: the front door stores and accepts; what it cannot take must still be a clear 5xx.
                Assert.True(result.Accepted * 10 >= result.Requests * 9, $"{name}: the front door must accept while only Marketo is down: {result.Describe()}");
                Assert.True(result.Complete, $"{name}: accepted but not applied: {result.Describe()}");
                Assert.True(result.Duplicates == 0, $"{name}: duplicates: {result.Describe()}");
                HostFailoverTests.AssertLimits(projects[i], result);
            }
            await AssertQuotaExhaustedAsync(cluster, projects[Array.FindIndex(Faults, f => f.QuotaExhausted)], verifications[Array.FindIndex(Faults, f => f.QuotaExhausted)].Result);
        }
        finally
        {
            foreach (var instance in instances) await instance.DisposeAsync();
        }
    }

    private static async Task ClearAsync(Fault fault, ReliabilityProject project)
    {
        if (fault.Refused)
        {
            // A fresh process on the same port knows nothing: the service is kept out (unknown client id) until the
            // leads, field and activity type are back, so it never sees a half-seeded instance.
            await project.Marketo.StartProcessAsync(new Dictionary<string, string?> { ["Sandbox__ClientId"] = "seeding-only" });
            await project.SeedMarketoAsync(leads: 40);
            await project.Marketo.AddClientAsync("sandbox-client", "sandbox-secret");
            return;
        }
        await project.Marketo.ClearFaultsAsync();
        await project.Marketo.SetTokenExpiryAsync(null);
    }

    /// <summary>What the service says about the fault: error codes on outbox rows and users, the quota's throttling.</summary>
    private static async Task<string> NotesAsync(ThreeHostCluster cluster, ReliabilityProject project, Fault fault, Verification result)
    {
        var quota = await cluster.GetAdminAsync($"/v1/projects/{project.Id}/quota");
        var notes = $"quota used {quota?["used"]}, throttled {quota?["throttled"]}";
        var refused = result.Requests - result.Accepted;
        if (refused > 0) notes += $"; {refused} answered 5xx problem+json";
        if (fault.QuotaExhausted) notes += $", remaining {quota?["remaining"]}; kept pending {result.KeptPending.Count}";
        return notes;
    }

    /// <summary>After 607 the instance is closed for the day: nothing accepted failed, the rest is pending, the quota
    /// shows nothing remaining, and the sandbox saw only the calls that were under way when the 607s came.</summary>
    private static async Task AssertQuotaExhaustedAsync(ThreeHostCluster cluster, ReliabilityProject project, Verification result)
    {
        var quota = await cluster.GetAdminAsync($"/v1/projects/{project.Id}/quota");
        Assert.NotNull(quota);
        Assert.Equal(0, (int)quota!["remaining"]!);
        Assert.True(result.KeptPending.Count > 0, "607: nothing was kept pending, so the fault did not bite: " + result.Describe());
        var counters = await project.Marketo.CountersAsync();
        var calls607 = counters["callsByEndpointAndCode"]!.AsObject().Sum(e => (int?)e.Value!["607"] ?? 0);
        Assert.InRange(calls607, 1, 12);
    }
}
