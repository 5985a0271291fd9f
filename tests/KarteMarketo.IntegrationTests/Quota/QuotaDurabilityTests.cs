using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KarteMarketo.IntegrationTests.Infrastructure;

namespace KarteMarketo.IntegrationTests.Quota;

/// <summary>
/// The quota grain's day count lives in PostgreSQL as a reservation made before calls are granted: a host killed
/// mid-day comes back counting at least what Marketo counted, and at most one reservation block more.
/// </summary>
public sealed class QuotaDurabilityTests
{
    private const string ProjectId = "quota-durable";
    private const int ReservationBlock = 50;

    [Fact]
    public async Task The_days_count_survives_a_killed_host_and_is_never_below_Marketos()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        await using var sandbox = await SandboxProcess.StartAsync();
        using var control = new HttpClient { BaseAddress = sandbox.BaseAddress };
        for (var i = 0; i < 20; i++)
        {
            using var lead = await control.PostAsJsonAsync("/_sandbox/leads", new { email = $"user{i}@example.com" });
            lead.EnsureSuccessStatusCode();
        }
        var options = new HostOptions
        {
            PostgresConnectionString = db.ConnectionString,
            Settings = new Dictionary<string, string?> { ["Marketo__AllowInsecureEndpoints"] = "true" },
        };

        int usedBeforeCrash;
        HostOptions restart;
        await using (var first = await HostProcess.StartAsync(options))
        {
            restart = options with { HttpPort = first.HttpPort, SiloPort = first.SiloPort, GatewayPort = first.GatewayPort };
            var created = await ProjectSettingsClient.PutAsync(first, ProjectId, ProjectSettingsClient.Settings("sandbox-client", sandbox.BaseAddress));

            // Identify events start realtime lookups, which reach Marketo only through the gateway and the quota grain.
            using var project = first.CreateClient((string)created["apiKey"]!);
            var events = new JsonArray([.. Enumerable.Range(0, 20).Select(i => (JsonNode)new JsonObject
            {
                ["userId"] = $"u-{i}",
                ["event"] = "identify",
                ["values"] = new JsonObject { ["email"] = $"user{i}@example.com" },
            })]);
            using var accepted = await project.PostAsJsonAsync($"/v1/projects/{ProjectId}/events", events);
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);

            // Real processes on real clocks: wait until the lookups have been made and the quota shows them.
            var quota = await EventuallyAsync(async () =>
            {
                var q = await GetQuotaAsync(first);
                var counted = await CountedCallsAsync(control);
                return (Quota: q, Counted: counted);
            }, s => s.Counted >= 1 && s.Quota["used"]!.GetValue<int>() == s.Counted);
            usedBeforeCrash = quota.Quota["used"]!.GetValue<int>();
            Assert.Equal(quota.Counted, usedBeforeCrash);
            var byPurpose = quota.Quota["byPurpose"]!.AsObject();
            Assert.True(usedBeforeCrash == byPurpose.Sum(kv => kv.Value!.GetValue<int>()), quota.Quota.ToJsonString());

            await first.KillAsync();
        }

        var instance = $"127.0.0.1:{sandbox.HttpPort}";
        Assert.Equal(1, await db.ScalarAsync<int>(
            $"SELECT count(*) FROM orleansstorage WHERE grainidextensionstring = 'q:{instance}' AND payloadbinary IS NOT NULL"));

        await using var second = await HostProcess.StartAsync(restart);
        var after = await GetQuotaAsync(second);
        Assert.Equal(instance, after["instance"]!.GetValue<string>());
        var usedAfterCrash = after["used"]!.GetValue<int>();
        Assert.InRange(usedAfterCrash, usedBeforeCrash, usedBeforeCrash + ReservationBlock);
        Assert.True(usedAfterCrash >= await CountedCallsAsync(control));
    }

    private static async Task<JsonObject> GetQuotaAsync(HostProcess host)
    {
        using var admin = host.CreateAdminClient();
        using var response = await admin.GetAsync($"/v1/projects/{ProjectId}/quota");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET quota: {(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!.AsObject();
    }

    private static async Task<int> CountedCallsAsync(HttpClient control)
    {
        var counters = JsonNode.Parse(await control.GetStringAsync("/_sandbox/counters"))!;
        return counters["countedCalls"]!.GetValue<int>();
    }

    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var value = await read();
            if (done(value) || watch.Elapsed > TimeSpan.FromSeconds(60)) return value;
            await Task.Delay(TimeSpan.FromMilliseconds(200));
        }
    }
}
