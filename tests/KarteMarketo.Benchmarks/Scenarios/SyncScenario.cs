using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using KarteMarketo.Benchmarks.Hosting;

namespace KarteMarketo.Benchmarks.Scenarios;

/// <summary>
/// Sync: N new users, each a lead in the sandbox, identify at a fixed rate (open loop). Counts Marketo lookup calls per
/// 1,000 synced users (sandbox counters) and measures identify → user-info-synced latency on a sample of users (a
/// bounded poller on <c>GET /v1/projects/{id}/users/{userId}</c>). Run twice on the same server: with the service's
/// batching (<c>batchDelayMilliseconds</c> default 1000) and naive (0: one key per call), each against its own sandbox
/// process so that the two runs share neither Marketo counters nor the instance's quota.
/// </summary>
internal static class SyncScenario
{
    public static async Task<ScenarioReport> RunAsync(BenchEnvironment env, CancellationToken cancellationToken)
    {
        var options = env.Options;
        var report = new ScenarioReport("sync");
        var users = (int)Math.Round(options.SyncRate * options.SyncSeconds);
        var batchedSandbox = await env.StartSandboxAsync("sandbox-sync-batched", cancellationToken);
        var naiveSandbox = await env.StartSandboxAsync("sandbox-sync-naive", cancellationToken);
        var server = await env.StartServerAsync("server-sync", null, cancellationToken);

        var batched = await RunModeAsync(env, server, batchedSandbox, "batched", options.SyncBatchDelayMilliseconds, users, cancellationToken);
        var naive = await RunModeAsync(env, server, naiveSandbox, "naive", 0, users, cancellationToken);

        foreach (var mode in new[] { batched, naive })
        {
            report.Row($"{mode.Name}: calls per 1,000 synced users", $"{Bench.F(mode.CallsPerThousand, "0.0")} ({mode.LookupCalls} lookup calls, {mode.SyncedUsers} users synced{(mode.SyncedFromSegment ? "" : " (estimated from sample)")})");
            report.Row($"{mode.Name}: identify -> synced latency", $"{Bench.Latency(mode.SyncLatency)} (poll resolution ~{mode.PollResolutionMs} ms)");
            report.Row($"{mode.Name}: sample outcomes", string.Join(", ", mode.Outcomes.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} {kv.Value}")));
            report.Row($"{mode.Name}: warm-up users", string.Join(", ", mode.Warmup));
            report.Row($"{mode.Name}: identify requests", $"{mode.Load.Requests} at {Bench.F(mode.Load.RequestsPerSecond, "0")}/s, errors {mode.Load.Errors}, abandoned {mode.Load.Abandoned}, {Bench.Latency(mode.Load.Intended)}");
        }
        var ratio = naive.CallsPerThousand / batched.CallsPerThousand;
        report.Row("naive / batched calls per 1,000 users", $"{Bench.F(ratio, "0.0")}x");
        report.Data["users"] = users;
        report.Data["identifyRatePerSecond"] = options.SyncRate;
        report.Data["seconds"] = options.SyncSeconds;
        report.Data["batched"] = batched.ToJson();
        report.Data["naive"] = naive.ToJson();
        report.Data["naiveOverBatchedCallsRatio"] = double.IsFinite(ratio) ? Math.Round(ratio, 1) : null;
        report.Notes.Add("naive = the same service with batchDelayMilliseconds 0 (one key per lookup call); its calls are also " +
                         "capped by the quota's 20-second window, so most of its users are deferred within the run");
        return report;
    }

    private static async Task<ModeResult> RunModeAsync(BenchEnvironment env, ServerHandle server, SandboxHandle sandbox, string mode,
        int batchDelayMilliseconds, int users, CancellationToken cancellationToken)
    {
        var options = env.Options;
        var projectId = $"bench-sync-{mode}-{env.RunId}";
        string Email(long i) => $"sync-{mode}-{i}@bench.example";
        string UserId(long i) => $"sync-{mode}-u{i}";

        Console.WriteLine($"  {mode}: seeding {users} leads");
        await sandbox.SeedLeadsAsync([.. Enumerable.Range(0, users).Select(i => Email(i))], 16, cancellationToken);
        await sandbox.SeedLeadsAsync([.. Enumerable.Range(0, WarmupUsers).Select(i => $"sync-{mode}-warmup{i}@bench.example")], 4, cancellationToken);
        var apiKey = await server.CreateProjectAsync(projectId, sandbox, settings =>
        {
            // Periodic sync on, as by default (issue 18 counts calls with it on): its first run is due long after this one.
            settings["periodicSync"] = new JsonObject { ["enabled"] = true, ["intervalMinutes"] = 30 };
            settings["realtimeSync"] = new JsonObject
            {
                ["enabled"] = true,
                ["keys"] = new JsonArray("email"),
                ["resyncWindowSeconds"] = 86_400,
                ["batchDelayMilliseconds"] = batchDelayMilliseconds,
            };
        }, cancellationToken);
        using var client = server.CreateProjectClient(apiKey, 256);
        var result = new ModeResult(mode);
        await WarmUpAsync(server, client, projectId, mode, result, cancellationToken);
        var before = await sandbox.CountersAsync(cancellationToken);

        var clock = Stopwatch.StartNew();
        var pending = new ConcurrentDictionary<string, TimeSpan>();
        var sendingDone = new CancellationTokenSource();
        var settle = TimeSpan.FromSeconds(options.SyncSeconds + options.SyncSettleSeconds);
        var poller = Task.Run(() => PollAsync(server, projectId, pending, result, clock, sendingDone.Token, settle, cancellationToken), cancellationToken);

        Console.WriteLine($"  {mode}: {users} identify at {options.SyncRate}/s (batchDelayMilliseconds {batchDelayMilliseconds})");
        result.Load = await LoadRunner.PacedAsync($"identify-{mode}", options.SyncRate, TimeSpan.FromSeconds(options.SyncSeconds), 256,
            async (i, token) =>
            {
                if (i % options.SyncSampleEvery == 0) pending.TryAdd(UserId(i), clock.Elapsed);
                return await Bench.PostEventsAsync(client, projectId, Bench.Identify(UserId(i), Email(i)), 1, token);
            }, cancellationToken);
        await sendingDone.CancelAsync();
        await poller;

        // Let the last batches land (bounded), then read what Marketo saw.
        var remaining = settle - clock.Elapsed;
        await Bench.SettleAsync(async token =>
            {
                var c = await sandbox.CountersAsync(token);
                return (c.LookupCalls, c.Calls);
            },
            TimeSpan.FromSeconds(3), remaining > TimeSpan.FromSeconds(3) ? remaining : TimeSpan.FromSeconds(3), cancellationToken);
        var counters = await sandbox.CountersAsync(cancellationToken);
        result.LookupCalls = counters.LookupCalls - before.LookupCalls;
        result.Counters = counters;

        var segment = await server.SegmentCountAsync(projectId, "marketo-lead-synced", cancellationToken);
        var sampled = result.Outcomes.Values.Sum();
        if (segment is { } count)
        {
            // The segment also holds the warm-up users that synced.
            result.SyncedUsers = count - result.Warmup.Count(w => w == "synced");
            result.SyncedFromSegment = true;
        }
        else
        {
            result.SyncedUsers = sampled == 0 ? 0 : (int)Math.Round(users * (double)result.Outcomes.GetValueOrDefault("synced") / sampled);
        }
        return result;
    }

    private const int WarmupUsers = 3;

    /// <summary>
    /// Before the measurement, one user at a time (at most <see cref="WarmupUsers"/>) identifies and is polled until it
    /// is synced, so that start-up work (token, describe, learning which fields the instance has) is not counted in the
    /// steady-state figures. What the warm-up saw is kept in the results.
    /// </summary>
    private static async Task WarmUpAsync(ServerHandle server, HttpClient client, string projectId, string mode, ModeResult result,
        CancellationToken cancellationToken)
    {
        for (var i = 0; i < WarmupUsers; i++)
        {
            var userId = $"sync-{mode}-warmup-u{i}";
            await Bench.PostEventsAsync(client, projectId, Bench.Identify(userId, $"sync-{mode}-warmup{i}@bench.example"), 1, cancellationToken);
            var clock = Stopwatch.StartNew();
            var outcome = "pending";
            while (clock.Elapsed < TimeSpan.FromSeconds(20))
            {
                outcome = Bench.Outcome(await server.GetUserAsync(projectId, userId, cancellationToken));
                if (outcome is "synced" or "notFound" or "failed" or "deferred") break;
                await Task.Delay(100, cancellationToken);
            }
            result.Warmup.Add(outcome);
            if (outcome == "synced") return;
        }
    }

    /// <summary>Polls sampled users until each has an outcome, or the deadline. Poll intervals grow with the wait
    /// (100 ms for the first 2 s, 250 ms to 5 s, then 1 s) so that slow users do not flood the server.</summary>
    private static async Task PollAsync(ServerHandle server, string projectId, ConcurrentDictionary<string, TimeSpan> pending,
        ModeResult result, Stopwatch clock, CancellationToken sendingDone, TimeSpan deadline, CancellationToken cancellationToken)
    {
        var nextPoll = new Dictionary<string, TimeSpan>();
        while (clock.Elapsed < deadline && (!sendingDone.IsCancellationRequested || !pending.IsEmpty))
        {
            var now = clock.Elapsed;
            var due = pending.Where(p => !nextPoll.TryGetValue(p.Key, out var at) || at <= now).ToList();
            var answers = new ConcurrentBag<(string UserId, TimeSpan SentAt, string Outcome, TimeSpan SeenAt)>();
            await Parallel.ForEachAsync(due, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellationToken },
                async (entry, token) =>
                {
                    string outcome;
                    try
                    {
                        outcome = Bench.Outcome(await server.GetUserAsync(projectId, entry.Key, token));
                    }
                    catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException)
                    {
                        outcome = "poll-error";
                    }
                    answers.Add((entry.Key, entry.Value, outcome, clock.Elapsed));
                });
            foreach (var (userId, sentAt, outcome, seenAt) in answers)
            {
                if (outcome is "synced" or "notFound" or "failed" or "deferred")
                {
                    pending.TryRemove(userId, out _);
                    nextPoll.Remove(userId);
                    result.Outcomes[outcome] = result.Outcomes.GetValueOrDefault(outcome) + 1;
                    if (outcome == "synced") result.SyncLatency.Record(seenAt - sentAt);
                }
                else
                {
                    var waited = seenAt - sentAt;
                    nextPoll[userId] = seenAt + (waited < TimeSpan.FromSeconds(2) ? TimeSpan.FromMilliseconds(100)
                        : waited < TimeSpan.FromSeconds(5) ? TimeSpan.FromMilliseconds(250) : TimeSpan.FromSeconds(1));
                }
            }
            await Task.Delay(20, cancellationToken);
        }
        foreach (var userId in pending.Keys)
        {
            result.Outcomes["unresolved-at-deadline"] = result.Outcomes.GetValueOrDefault("unresolved-at-deadline") + 1;
        }
    }

    private sealed class ModeResult(string name)
    {
        public string Name => name;
        public LoadResult Load { get; set; } = new("none");
        public Latencies SyncLatency { get; } = new();
        public Dictionary<string, int> Outcomes { get; } = new();
        public List<string> Warmup { get; } = [];
        public int LookupCalls { get; set; }
        public int SyncedUsers { get; set; }
        public bool SyncedFromSegment { get; set; }
        public SandboxCounts? Counters { get; set; }
        public int PollResolutionMs => 100;
        public double CallsPerThousand => SyncedUsers == 0 ? double.NaN : LookupCalls * 1000.0 / SyncedUsers;

        public JsonObject ToJson() => new()
        {
            ["lookupCalls"] = LookupCalls,
            ["syncedUsers"] = SyncedUsers,
            ["syncedUsersFrom"] = SyncedFromSegment ? "segment marketo-lead-synced" : "sample estimate",
            ["callsPerThousandSyncedUsers"] = double.IsFinite(CallsPerThousand) ? Math.Round(CallsPerThousand, 2) : null,
            ["identifyToSyncedLatency"] = SyncLatency.ToJson(),
            ["sampleOutcomes"] = new JsonObject([.. Outcomes.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]),
            ["warmupOutcomes"] = new JsonArray([.. Warmup.Select(w => (JsonNode)JsonValue.Create(w))]),
            ["identify"] = Load.ToJson(),
            ["sandbox"] = Counters?.ToJson(),
        };
    }
}
