using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.Benchmarks.Hosting;

namespace KarteMarketo.Benchmarks.Scenarios;

/// <summary>
/// KARTE write-back (issue 13), against the sandbox process's KARTE stand-in (<c>/karte</c>), which counts what it
/// receives and measures the most calls in any one second:
/// <list type="number">
/// <item>N users identify (one lead each): writes per 1,000 syncs of new leads.</item>
/// <item><c>POST …/sync/resync</c> looks every key up again, leads unchanged: writes per 1,000 syncs (goal 0).</item>
/// <item>Every lead edited at the sandbox, then resync: writes per 1,000 syncs of changed leads (goal 1,000).</item>
/// <item>Throughput at <c>requestsPerSecond</c> 1,000: a backlog of Marketo webhook events is built while the
/// project's writes are paused (one <c>401</c> from the stand-in), then released by a settings save; the rate is what
/// the stand-in received per second over the drain.</item>
/// </list>
/// Syncs are counted at the sandbox (emails looked up, one user per lead), writes at the stand-in.
/// </summary>
internal static class KarteScenario
{
    private const string AppToken = "karte-sandbox-app-token";
    private const string EventName = "marketo_email_click";

    public static async Task<ScenarioReport> RunAsync(BenchEnvironment env, CancellationToken cancellationToken)
    {
        var options = env.Options;
        var report = new ScenarioReport("karte");
        var users = options.KarteUsers;
        var sandbox = await env.StartSandboxAsync("sandbox-karte", cancellationToken);
        var server = await env.StartServerAsync("server-karte", null, cancellationToken);
        var karte = new StandIn(sandbox.Client);
        var projectId = $"bench-karte-{env.RunId}";
        string Email(int i) => $"karte-{i}@bench.example";
        string UserId(int i) => $"karte-u{i}";

        Console.WriteLine($"  seeding {users} leads");
        var leadIds = new long[users];
        await Parallel.ForEachAsync(Enumerable.Range(0, users), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
            async (i, token) => leadIds[i] = await SeedLeadAsync(sandbox.Client, Email(i), token));

        JsonObject KarteSettings() => new()
        {
            ["enabled"] = true,
            ["endpoint"] = new Uri(sandbox.Host.BaseAddress, "karte").ToString(),
            ["appToken"] = AppToken,
            ["requestsPerSecond"] = options.KarteCeiling,
            ["writeOnlyOnChange"] = true,
        };
        void Customize(JsonObject settings)
        {
            // Only what the scenario asks for is synced: no periodic run in between.
            settings["periodicSync"] = new JsonObject { ["enabled"] = false };
            settings["realtimeSync"] = new JsonObject
            {
                ["enabled"] = true, ["keys"] = new JsonArray("email"), ["resyncWindowSeconds"] = 86_400, ["batchDelayMilliseconds"] = 1000,
            };
            settings["karte"] = KarteSettings();
        }
        var created = await server.PutProjectAsync(projectId, sandbox, Customize, cancellationToken);
        if ((string?)created["karteConnection"] != "ok")
            throw new InvalidOperationException($"the KARTE stand-in refused the token check: {created["karteConnection"]}");
        var apiKey = (string)created["apiKey"]!;
        var webhookSecret = (string)created["webhookSecret"]!;
        using var client = server.CreateProjectClient(apiKey, 16);

        // 1. New leads.
        Console.WriteLine($"  new leads: {users} identify");
        var newLeads = await MeasureAsync(env, server, sandbox, karte, projectId, users, async () =>
        {
            for (var first = 0; first < users; first += 100)
            {
                var count = Math.Min(100, users - first);
                await Bench.PostEventsAsync(client, projectId, Bench.IdentifyBatch(first, count, i => (UserId((int)i), Email((int)i))), count, cancellationToken);
            }
        }, cancellationToken);

        // 2. The same leads looked up again, unchanged.
        Console.WriteLine("  unchanged leads: resync all");
        var unchanged = await MeasureAsync(env, server, sandbox, karte, projectId, users, () => ResyncAsync(server, projectId, cancellationToken), cancellationToken);

        // 3. Every lead edited in Marketo, then looked up again.
        Console.WriteLine("  changed leads: every lead edited, resync all");
        await Parallel.ForEachAsync(Enumerable.Range(0, users), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
            async (i, token) => await UpdateLeadAsync(sandbox.Client, leadIds[i], $"Changed{i}", token));
        var changed = await MeasureAsync(env, server, sandbox, karte, projectId, users, () => ResyncAsync(server, projectId, cancellationToken), cancellationToken);

        // 4. Throughput: a backlog released at once.
        Console.WriteLine($"  throughput: a backlog of {options.KarteBacklog} events at requestsPerSecond {options.KarteCeiling}");
        await karte.FaultAsync(new JsonObject { ["kind"] = "Unauthorized", ["count"] = 1 }, cancellationToken);
        using var webhooks = BenchEnvironment.CreateClient(server.Host.BaseAddress, null, 32);
        webhooks.DefaultRequestHeaders.Add("X-Webhook-Secret", webhookSecret);
        await PostWebhookAsync(webhooks, projectId, Email(0), "pause", cancellationToken);
        await UntilAsync(async () => (bool?)(await WritesAsync(server, projectId, cancellationToken))["paused"] == true, TimeSpan.FromSeconds(60),
            "the project's KARTE writes did not pause after the 401", cancellationToken);
        var intake = await LoadRunner.ClosedAsync("marketo-webhooks", 32, options.KarteBacklog, TimeSpan.FromMinutes(5), async (i, token) =>
        {
            await PostWebhookAsync(webhooks, projectId, Email((int)(i % users)), $"b{i}", token);
            return 1;
        }, cancellationToken);
        var backlog = (long)(await WritesAsync(server, projectId, cancellationToken))["counts"]!["pending"]!;
        await karte.ResetAsync(cancellationToken);
        var release = Stopwatch.StartNew();
        // Saving the settings ends the pause: every paused row is due at once.
        await server.PutProjectAsync(projectId, sandbox, Customize, cancellationToken);
        await UntilAsync(async () => (long)(await WritesAsync(server, projectId, cancellationToken))["counts"]!["pending"]! == 0,
            TimeSpan.FromSeconds(options.KarteSettleSeconds + options.KarteBacklog / (double)options.KarteCeiling * 4),
            "the backlog was not drained", cancellationToken);
        var drained = release.Elapsed;
        var listing = await karte.ListingAsync(cancellationToken);
        var (received, first, last) = await karte.SpanAsync(cancellationToken);
        var rate = received > 1 && last > first ? (received - 1) / (last - first).TotalSeconds : double.NaN;
        var maxPerSecond = (int)listing["maxRequestsPerSecond"]!;

        foreach (var (name, m) in new[] { ("new leads", newLeads), ("unchanged leads", unchanged), ("changed leads", changed) })
            report.Row($"writes per 1,000 syncs of {name}", $"{Bench.F(m.PerThousand, "0.0")} ({m.Writes} writes, {m.Syncs} syncs, settled in {Bench.F(m.Elapsed.TotalSeconds, "0.0")} s)");
        report.Row($"throughput at requestsPerSecond {options.KarteCeiling}",
            $"{Bench.F(rate, "0")} writes/s at KARTE ({received} events from first to last, {Bench.F((last - first).TotalSeconds, "0.00")} s); " +
            $"backlog {backlog} drained {Bench.F(drained.TotalSeconds, "0.00")} s after the release ({Bench.F(backlog / drained.TotalSeconds, "0")}/s end to end)");
        report.Row("most calls in any one second at KARTE", $"{maxPerSecond} (ceiling {options.KarteCeiling})");
        report.Row("webhook intake", $"{intake.Requests} at {Bench.F(intake.RequestsPerSecond, "0")}/s, errors {intake.Errors}, {Bench.Latency(intake.Service)}");
        report.Data["users"] = users;
        report.Data["ceiling"] = options.KarteCeiling;
        report.Data["newLeads"] = newLeads.ToJson();
        report.Data["unchangedLeads"] = unchanged.ToJson();
        report.Data["changedLeads"] = changed.ToJson();
        report.Data["throughput"] = new JsonObject
        {
            ["backlog"] = backlog,
            ["received"] = received,
            ["firstAt"] = first,
            ["lastAt"] = last,
            ["writesPerSecondAtKarte"] = double.IsFinite(rate) ? Math.Round(rate, 1) : null,
            ["drainedSeconds"] = Math.Round(drained.TotalSeconds, 2),
            ["maxRequestsPerSecond"] = maxPerSecond,
            ["answers"] = listing["answers"]?.DeepClone(),
            ["intake"] = intake.ToJson(),
        };
        report.Notes.Add("syncs = emails looked up at the sandbox (one user per lead); writes = events the KARTE stand-in recorded");
        report.Notes.Add("throughput: the stand-in's arrival times of the released backlog; the service spaces calls 1/requestsPerSecond apart, up to 8 users side by side");
        return report;
    }

    /// <summary>Writes and syncs caused by <paramref name="cause"/>: waits (bounded) until the sandbox has looked every
    /// key up, then until nothing is pending for KARTE and the stand-in's count stands still for 3 s.</summary>
    private static async Task<Measured> MeasureAsync(BenchEnvironment env, ServerHandle server, SandboxHandle sandbox, StandIn karte,
        string projectId, int users, Func<Task> cause, CancellationToken cancellationToken)
    {
        var syncsBefore = (await sandbox.CountersAsync(cancellationToken)).LookupValues;
        var writesBefore = await karte.EventsAsync(cancellationToken);
        var clock = Stopwatch.StartNew();
        await cause();
        var settle = TimeSpan.FromSeconds(env.Options.KarteSettleSeconds);
        await UntilAsync(async () => (await sandbox.CountersAsync(cancellationToken)).LookupValues - syncsBefore >= users, settle,
            null, cancellationToken);
        await UntilAsync(async () => (long)(await WritesAsync(server, projectId, cancellationToken))["counts"]!["pending"]! == 0, settle,
            null, cancellationToken);
        var writes = await Bench.SettleAsync(karte.EventsAsync, TimeSpan.FromSeconds(3), settle, cancellationToken);
        var syncs = (await sandbox.CountersAsync(cancellationToken)).LookupValues - syncsBefore;
        return new Measured(writes - writesBefore, syncs, clock.Elapsed);
    }

    private sealed record Measured(long Writes, long Syncs, TimeSpan Elapsed)
    {
        public double PerThousand => Syncs == 0 ? double.NaN : Writes * 1000.0 / Syncs;

        public JsonObject ToJson() => new()
        {
            ["writes"] = Writes,
            ["syncs"] = Syncs,
            ["writesPerThousandSyncs"] = double.IsFinite(PerThousand) ? Math.Round(PerThousand, 1) : null,
            ["settledSeconds"] = Math.Round(Elapsed.TotalSeconds, 1),
        };
    }

    private static async Task UntilAsync(Func<Task<bool>> done, TimeSpan limit, string? failure, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (!await done())
        {
            if (clock.Elapsed > limit)
            {
                if (failure is null) return;    // measured as it stands
                throw new TimeoutException(failure);
            }
            await Task.Delay(100, cancellationToken);
        }
    }

    private static async Task ResyncAsync(ServerHandle server, string projectId, CancellationToken cancellationToken)
    {
        using var response = await server.Admin.PostAsync($"/v1/projects/{projectId}/sync/resync",
            new StringContent("""{"scope":"all"}""", Encoding.UTF8, "application/json"), cancellationToken);
        await Http.EnsureAsync(response, "POST sync/resync");
    }

    private static async Task<JsonObject> WritesAsync(ServerHandle server, string projectId, CancellationToken cancellationToken)
    {
        using var response = await server.Admin.GetAsync($"/v1/projects/{projectId}/karte-writes?limit=1", cancellationToken);
        await Http.EnsureAsync(response, "GET karte-writes");
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))!.AsObject();
    }

    private static async Task PostWebhookAsync(HttpClient client, string projectId, string email, string seq, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["email"] = email, ["event_name"] = EventName, ["seq"] = seq };
        using var response = await client.PostAsync($"/v1/projects/{projectId}/webhooks/marketo",
            new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"), cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
            throw new HttpStatusException((int)response.StatusCode, Http.Short(await response.Content.ReadAsStringAsync(cancellationToken)));
    }

    private static async Task<long> SeedLeadAsync(HttpClient sandbox, string email, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["email"] = email, ["fields"] = new JsonObject { ["firstName"] = "Bench", ["lastName"] = email[..email.IndexOf('@')] } };
        using var response = await sandbox.PostAsync("/_sandbox/leads", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"), cancellationToken);
        await Http.EnsureAsync(response, "POST /_sandbox/leads");
        return (long)JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))!["id"]!;
    }

    private static async Task UpdateLeadAsync(HttpClient sandbox, long leadId, string firstName, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["fields"] = new JsonObject { ["firstName"] = firstName } };
        using var response = await sandbox.PatchAsync($"/_sandbox/leads/{leadId.ToString(CultureInfo.InvariantCulture)}",
            new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"), cancellationToken);
        await Http.EnsureAsync(response, "PATCH /_sandbox/leads/{id}");
    }

    /// <summary>The stand-in's control routes (<c>/karte/_karte/…</c>) on the sandbox process.</summary>
    private sealed class StandIn(HttpClient sandbox)
    {
        public async Task<JsonObject> ListingAsync(CancellationToken cancellationToken, string query = "?limit=1") =>
            JsonNode.Parse(await sandbox.GetStringAsync("/karte/_karte/received" + query, cancellationToken))!.AsObject();

        /// <summary>Events recorded so far.</summary>
        public async Task<long> EventsAsync(CancellationToken cancellationToken) => (long)(await ListingAsync(cancellationToken))["events"]!;

        /// <summary>Events recorded, and the arrival times of the first and the last.</summary>
        public async Task<(long Count, DateTimeOffset First, DateTimeOffset Last)> SpanAsync(CancellationToken cancellationToken)
        {
            var last = await ListingAsync(cancellationToken);
            var first = await ListingAsync(cancellationToken, "?after=0&limit=1");
            var count = (long)last["events"]!;
            if (count == 0) return (0, default, default);
            return (count, (DateTimeOffset)first["received"]![0]!["at"]!, (DateTimeOffset)last["received"]![0]!["at"]!);
        }

        public async Task FaultAsync(JsonObject fault, CancellationToken cancellationToken)
        {
            using var response = await sandbox.PostAsync("/karte/_karte/faults", new StringContent(fault.ToJsonString(), Encoding.UTF8, "application/json"),
                cancellationToken);
            await Http.EnsureAsync(response, "POST /karte/_karte/faults");
        }

        public async Task ResetAsync(CancellationToken cancellationToken)
        {
            using var response = await sandbox.PostAsync("/karte/_karte/reset", null, cancellationToken);
            await Http.EnsureAsync(response, "POST /karte/_karte/reset");
        }
    }
}
