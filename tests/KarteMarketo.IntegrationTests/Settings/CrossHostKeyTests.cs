using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.IntegrationTests.Infrastructure;

namespace KarteMarketo.IntegrationTests.FrontDoor;

/// <summary>
/// Keys are checked against each host's own cached copy of the project, with no grain call per request; a change made
/// through one host must still reach the other within seconds: a new project's keys, rotated keys, and the end of
/// the old ones. Two host processes on one PostgreSQL database, real time.
/// </summary>
public sealed class CrossHostKeyTests(CrossHostKeyTests.Hosts hosts) : IClassFixture<CrossHostKeyTests.Hosts>
{
    /// <summary>The cache keeps a copy up to 3 s; allow generously for a busy machine.</summary>
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Keys_made_or_rotated_through_one_host_work_and_stop_working_on_the_other_within_seconds()
    {
        var (a, b) = (hosts.A, hosts.B);
        // b has already looked for the project (and cached "no such project").
        using (var admin = b.CreateAdminClient())
            Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/v1/projects/cross-keys/settings")).StatusCode);

        var created = await ProjectSettingsClient.PutAsync(a, "cross-keys", Settings());
        var firstKey = (string)created["apiKey"]!;
        var firstAccepted = await TimeUntilAsync(b, firstKey, accepted: true);

        using (var rotateClient = a.CreateAdminClient())
        using (var rotate = await rotateClient.PostAsync("/v1/projects/cross-keys/keys/rotate", null))
        {
            Assert.Equal(HttpStatusCode.OK, rotate.StatusCode);
            var newKey = (string)JsonNode.Parse(await rotate.Content.ReadAsStringAsync())!["apiKey"]!;
            // The new key is checked against a fresh copy when the cached one does not know it.
            var newAccepted = await TimeUntilAsync(b, newKey, accepted: true);
            var oldRefused = await TimeUntilAsync(b, firstKey, accepted: false);
            Assert.True(newAccepted < TimeSpan.FromSeconds(5), $"new key accepted on the other host after {newAccepted}");
            Assert.True(oldRefused < TimeSpan.FromSeconds(10), $"old key refused on the other host after {oldRefused}");
        }
        Assert.True(firstAccepted < TimeSpan.FromSeconds(5), $"first key accepted on the other host after {firstAccepted}");
    }

    private static JsonObject Settings()
    {
        var settings = ProjectSettingsClient.Settings("cross-client", ProjectSettingsClient.ClosedLocalPort());
        // Auth only: nothing should try to reach Marketo.
        settings["realtimeSync"] = new JsonObject { ["enabled"] = false };
        settings["periodicSync"] = new JsonObject { ["enabled"] = false };
        return settings;
    }

    /// <summary>How long until an event posted to <paramref name="host"/> with <paramref name="key"/> is accepted
    /// (202) or refused (401); fails after <see cref="Within"/>.</summary>
    private static async Task<TimeSpan> TimeUntilAsync(HostProcess host, string key, bool accepted)
    {
        var watch = Stopwatch.StartNew();
        using var client = host.CreateClient(key);
        using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        while (true)
        {
            using var content = new StringContent("""{"userId":"u-cross","event":"view"}""", Encoding.UTF8, "application/json");
            using var response = await client.PostAsync("/v1/projects/cross-keys/events", content);
            var status = response.StatusCode;
            if (accepted ? status == HttpStatusCode.Accepted : status == HttpStatusCode.Unauthorized) return watch.Elapsed;
            Assert.True(status is HttpStatusCode.Accepted or HttpStatusCode.Unauthorized,
                $"unexpected {(int)status}: {await response.Content.ReadAsStringAsync()}");
            Assert.True(watch.Elapsed < Within, $"key still {(accepted ? "refused" : "accepted")} after {watch.Elapsed}");
            await poll.WaitForNextTickAsync();
        }
    }

    /// <summary>Two hosts on one fresh database; the Marketo client does not retry, so saving settings that point at a
    /// closed port answers at once.</summary>
    public sealed class Hosts : IAsyncLifetime
    {
        public TestDatabase Database { get; private set; } = null!;
        public HostProcess A { get; private set; } = null!;
        public HostProcess B { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Database = await TestPostgres.CreateDatabaseAsync();
            var options = new HostOptions
            {
                PostgresConnectionString = Database.ConnectionString,
                Settings = new Dictionary<string, string?>
                {
                    ["Marketo__AllowInsecureEndpoints"] = "true",
                    ["Marketo__Client__MaxRetries"] = "0",
                },
            };
            A = await HostProcess.StartAsync(options);
            B = await HostProcess.StartAsync(options);
        }

        public async Task DisposeAsync()
        {
            await A.DisposeAsync();
            await B.DisposeAsync();
            await Database.DisposeAsync();
        }
    }
}
