using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KarteMarketo.IntegrationTests.Cluster.Reliability;
using KarteMarketo.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace KarteMarketo.IntegrationTests.Cluster;

/// <summary>
/// Issue 13 on PostgreSQL with real processes: three hosts, the standalone sandbox process with its KARTE stand-in
/// (<c>/karte</c>). KARTE is made slow (every call answered 300 ms late, at most 10 calls a second) so that the
/// project's KARTE outbox is mid-drain when the host holding it (the <c>holder</c> of its in-flight rows) is SIGKILLed.
/// A survivor takes the rows over the moment membership declares the silo dead (Background/SiloTakeover) and drains
/// them. Afterwards: every write whose cause was accepted (an identify synced, a Marketo webhook answered 200) reached
/// KARTE; a write that reached it twice is from a row flagged <c>possibleDuplicate</c>; each user's writes arrived in
/// the order they were queued.
/// </summary>
public sealed partial class KarteOutboxKillTests(ITestOutputHelper output)
{
    private const int Users = 30;
    private const int EventsPerUser = 6;
    private const int RequestsPerSecond = 10;
    private static readonly TimeSpan SlowAnswers = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task Killing_the_host_draining_the_KARTE_outbox_loses_nothing_and_doubles_only_rows_flagged_possibleDuplicate()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        await using var marketo = await MarketoInstance.StartAsync();
        await using var cluster = await ThreeHostCluster.StartAsync(db.ConnectionString);
        cluster.LogName = "karte-outbox-kill";
        using var karte = new KarteStandInClient(marketo.BaseAddress);
        var clock = Stopwatch.StartNew();
        void Log(string what) => output.WriteLine($"{clock.Elapsed:mm\\:ss\\.f} {what}");

        const string projectId = "karte-kill";
        for (var i = 0; i < Users; i++)
            await marketo.SeedLeadAsync(Email(i), new JsonObject { ["firstName"] = $"Kill{i}" });
        var (apiKey, webhookSecret) = await CreateProjectAsync(cluster, projectId, marketo, karte);

        // KARTE answers late from now on: calls are recorded on arrival, so a host killed while waiting has written
        // without knowing it, and the rows it had sent but not yet recorded come back flagged.
        await karte.SlowAsync(SlowAnswers);
        var identify = new JsonArray([.. Enumerable.Range(0, Users).Select(i => (JsonNode)new JsonObject
        {
            ["userId"] = UserId(i), ["event"] = "identify", ["values"] = new JsonObject { ["email"] = Email(i) },
        })]);
        using (var events = Client(cluster, 0, apiKey))
        using (var response = await events.PostAsync($"/v1/projects/{projectId}/events", Json(identify)))
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        await UntilAsync(async () => (await SyncedAsync(cluster, projectId)).Count == Users, TimeSpan.FromSeconds(60),
            () => "the identified users were not all synced\n" + cluster.AllOutput());
        Log($"{Users} users synced");

        // Marketo webhooks: each user's events one after another (each answered before the next is sent), users side by
        // side, spread over the three front doors.
        var expected = new List<ExpectedKarteWrite>(Enumerable.Range(0, Users).Select(i => new ExpectedKarteWrite(UserId(i), "identify")));
        var answered = await Task.WhenAll(Enumerable.Range(0, Users).Select(async i =>
        {
            var mine = new List<ExpectedKarteWrite>();
            for (var k = 0; k < EventsPerUser; k++)
            {
                var seq = $"{i}-{k}";
                using var http = new HttpClient { BaseAddress = cluster.BaseAddressOf((i + k) % 3), Timeout = TimeSpan.FromSeconds(60) };
                http.DefaultRequestHeaders.Add("X-Webhook-Secret", webhookSecret);
                using var response = await http.PostAsync($"/v1/projects/{projectId}/webhooks/marketo",
                    Json(new JsonObject { ["email"] = Email(i), ["event_name"] = "marketo_email_click", ["seq"] = seq, ["campaign"] = "kill" }));
                var body = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.OK, body);
                var users = JsonNode.Parse(body)!["users"]!.AsArray().Select(u => (string)u!).ToList();
                Assert.Equal(new[] { UserId(i) }, users);
                mine.Add(new ExpectedKarteWrite(UserId(i), "marketo_email_click", seq));
            }
            return mine;
        }));
        foreach (var mine in answered) expected.AddRange(mine);
        Log($"{Users * EventsPerUser} webhooks answered 200");

        // Mid-drain: KARTE has some of the writes, and the dispatcher holds a claimed batch.
        string? holder = null;
        await UntilAsync(async () =>
        {
            var received = (await karte.ReceivedAsync()).Events.Count;
            var holders = await KarteWriteCheck.HoldersAsync(db.ConnectionString, projectId);
            // Plenty still in flight, so the batch cannot end between this look and the kill.
            holder = holders.Count == 1 && received >= 60 && holders.Values.Single() >= 20 ? holders.Keys.Single() : null;
            return holder is not null;
        }, TimeSpan.FromSeconds(60), () => "the KARTE outbox was never seen mid-drain with one holder");
        var host = HostOf(cluster, holder!);
        Assert.True(host is not null, $"holder {holder} is none of the hosts");
        var generation = await cluster.GenerationOfAsync(host.Value);
        Assert.NotNull(generation);
        var before = await KarteWriteCheck.RowsAsync(db.ConnectionString, projectId);
        var receivedBefore = (await karte.ReceivedAsync()).Events.Count;
        var killedAt = DateTimeOffset.UtcNow;
        await cluster.KillAsync(host.Value);
        Log($"SIGKILLed host {host} (holder {holder}): {before.Count(r => r.Status == "in_flight")} rows in flight, " +
            $"{before.Count(r => r.Status == "delivered")} delivered, {receivedBefore} received by KARTE");

        var dead = await cluster.WaitDeclaredDeadAsync(host.Value, generation.Value, TimeSpan.FromSeconds(60));
        Assert.True(dead is not null, $"host {host} was not declared dead\n" + cluster.AllOutput());
        Log($"declared dead {(dead.Value - killedAt).TotalSeconds:0.0} s after the kill");

        KarteCheck? check = null;
        await UntilAsync(async () =>
        {
            check = await KarteWriteCheck.RunAsync(db.ConnectionString, cluster, projectId, karte, expected);
            return check.Complete;
        }, TimeSpan.FromSeconds(120), () => "not everything reached KARTE: " + check?.Describe() + "\n" + cluster.AllOutput());
        var drainedAt = DateTimeOffset.UtcNow;
        Log(check!.Describe());

        // A survivor took the dead silo's claim over at once, not after the 5-minute lease.
        var survivors = cluster.Up.ToList();
        Assert.True(survivors.Any(s => TookOver().IsMatch(cluster[s].Output)),
            "no survivor logged taking over the dead silo's outbox rows\n" + cluster.AllOutput());
        Assert.True(drainedAt - killedAt < TimeSpan.FromMinutes(2), $"drained {(drainedAt - killedAt).TotalSeconds:0} s after the kill");

        Assert.True(check.Sound, check.Describe());
        Assert.Equal(expected.Count, check.ExpectedReceived);
        Assert.Equal(check.Rows, check.Delivered);
        Assert.Equal(Users * (1 + EventsPerUser), check.Rows);
        // The kill landed mid-drain: rows it had sent came back flagged, and KARTE got some of them twice.
        Assert.True(check.Flagged > 0, "no row was flagged possibleDuplicate: the kill did not land mid-drain\n" + check.Describe());
        Assert.True(check.Repeats > 0, "nothing was resent: the kill did not land between a write and its record\n" + check.Describe());
        Assert.Equal(check.Repeats, check.StandInRepeats);

        // User info at KARTE is exactly what GET …/users/{id} shows.
        foreach (var i in new[] { 0, Users / 2, Users - 1 })
        {
            var user = await cluster.GetAdminAsync($"/v1/projects/{projectId}/users/{UserId(i)}");
            var identifyWritten = check.Listing.Events.Last(e => e.UserId == UserId(i) && e.EventName == "identify");
            Assert.True(KarteWriteCheck.Content("", "", user!["identify"]!.AsObject()) == KarteWriteCheck.Content("", "", identifyWritten.Values),
                $"{identifyWritten.Values.ToJsonString()} vs {user["identify"]!.ToJsonString()}");
        }

        ReliabilitySummary.Add([new SummaryRow(
            $"KARTE outbox: the host draining it SIGKILLed (KARTE answers {SlowAnswers.TotalMilliseconds:0} ms late, {RequestsPerSecond}/s)",
            Users + Users * EventsPerUser, expected.Count, check.ExpectedReceived, check.Repeats, 0,
            FailoverRun.Seconds(drainedAt - dead.Value),
            $"{before.Count(r => r.Status == "in_flight")} rows in flight at the kill; declared dead {FailoverRun.Seconds(dead.Value - killedAt)} after it; " +
            $"{check.Flagged} rows resent flagged possibleDuplicate, {check.Repeats} received twice (all flagged); order per user kept; " +
            $"max {check.MaxRequestsPerSecond}/s of {RequestsPerSecond}")], output);
    }

    private static string Email(int i) => $"karte-kill-{i}@seeded.example";

    private static string UserId(int i) => $"karte-kill-u{i}";

    private static StringContent Json(JsonNode body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");

    private static HttpClient Client(ThreeHostCluster cluster, int host, string apiKey)
    {
        var http = new HttpClient { BaseAddress = cluster.BaseAddressOf(host), Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return http;
    }

    private static async Task<(string ApiKey, string WebhookSecret)> CreateProjectAsync(ThreeHostCluster cluster, string projectId,
        MarketoInstance marketo, KarteStandInClient karte)
    {
        var settings = new JsonObject
        {
            ["marketo"] = new JsonObject
            {
                ["clientId"] = "sandbox-client",
                ["clientSecret"] = "sandbox-secret",
                ["endpoint"] = new Uri(marketo.BaseAddress, "rest").ToString(),
                ["identity"] = new Uri(marketo.BaseAddress, "identity").ToString(),
            },
            // Only what the test sends is written: no periodic run re-syncing in between.
            ["periodicSync"] = new JsonObject { ["enabled"] = false },
            ["realtimeSync"] = new JsonObject { ["enabled"] = true, ["keys"] = new JsonArray("email"), ["batchDelayMilliseconds"] = 500 },
            ["karte"] = karte.Settings(RequestsPerSecond),
        };
        using var admin = cluster[0].CreateAdminClient();
        using var response = await admin.PutAsync($"/v1/projects/{projectId}/settings", Json(settings));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var body = JsonNode.Parse(text)!;
        Assert.Equal("ok", (string?)body["karteConnection"]);
        return ((string)body["apiKey"]!, (string)body["webhookSecret"]!);
    }

    private static async Task<HashSet<string>> SyncedAsync(ThreeHostCluster cluster, string projectId)
    {
        var page = await cluster.GetAdminAsync($"/v1/projects/{projectId}/segments/marketo-lead-synced?limit=1000");
        return [.. (page?["users"]?.AsArray() ?? []).Select(u => (string)u!)];
    }

    /// <summary>The host whose silo is <paramref name="holder"/> (<c>127.0.0.1:port@generation</c>).</summary>
    private static int? HostOf(ThreeHostCluster cluster, string holder)
    {
        var port = HolderPort().Match(holder);
        if (!port.Success) return null;
        var value = int.Parse(port.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        return Enumerable.Range(0, 3).Where(i => cluster.SiloPortOf(i) == value).Select(i => (int?)i).FirstOrDefault();
    }

    /// <summary>Polls <paramref name="done"/> (real processes: real time) until it holds or the deadline passes.</summary>
    private static async Task UntilAsync(Func<Task<bool>> done, TimeSpan limit, Func<string> failure)
    {
        var watch = Stopwatch.StartNew();
        using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        while (!await done())
        {
            if (watch.Elapsed > limit) Assert.Fail(failure());
            await poll.WaitForNextTickAsync();
        }
    }

    [GeneratedRegex(@":(\d+)@")]
    private static partial Regex HolderPort();

    [GeneratedRegex(@"Took over \d+ rows \(OutboxWorkScanner\)")]
    private static partial Regex TookOver();
}
