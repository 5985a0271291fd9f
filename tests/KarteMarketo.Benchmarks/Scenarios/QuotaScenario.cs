using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using KarteMarketo.Benchmarks.Hosting;

namespace KarteMarketo.Benchmarks.Scenarios;

/// <summary>
/// Quota: ten times more new users than the day's budget can look up (default dailyLimit 10, reserve 10% → 9 calls →
/// 9 × 300 users; 10× that many identify events for distinct emails; <c>--daily-limit 50</c> gives 45 calls and 135,000
/// users, which takes longer than the whole benchmark's time budget on two cores). The sandbox's own daily quota is set to the same
/// dailyLimit, so any overspend would show as a 607 breach. Reports calls made vs the budget, breaches (must be 0) and
/// how many users were deferred (from a sample of users' <c>sync.lastResult</c>).
/// </summary>
internal static class QuotaScenario
{
    public static async Task<ScenarioReport> RunAsync(BenchEnvironment env, CancellationToken cancellationToken)
    {
        var options = env.Options;
        var report = new ScenarioReport("quota");
        var budgetCalls = options.QuotaDailyLimit * (100 - options.QuotaReservePercent) / 100;
        var users = options.QuotaMultiplier * budgetCalls * 300;

        var sandbox = await env.StartSandboxAsync("sandbox-quota", cancellationToken);
        await sandbox.SetDailyQuotaAsync(options.QuotaDailyLimit, cancellationToken);
        var server = await env.StartServerAsync("server-quota", null, cancellationToken);
        var projectId = $"bench-quota-{env.RunId}";
        var apiKey = await server.CreateProjectAsync(projectId, sandbox, settings =>
        {
            settings["periodicSync"] = new JsonObject { ["enabled"] = false, ["intervalMinutes"] = 30 };
            settings["realtimeSync"] = new JsonObject { ["enabled"] = true, ["keys"] = new JsonArray("email") };
            settings["quota"] = new JsonObject
            {
                ["dailyLimit"] = options.QuotaDailyLimit,
                ["reservePercent"] = options.QuotaReservePercent,
                ["callsPer20Seconds"] = 90,
                ["maxConcurrentCalls"] = 8,
            };
        }, cancellationToken);
        using var client = server.CreateProjectClient(apiKey, 16);
        const int batch = 100;
        (string, string) User(long i) => ($"quota-u{i}", $"quota-{i}@bench.example");

        Console.WriteLine($"  {users:N0} new users identify (budget {budgetCalls} calls = {budgetCalls * 300:N0} users)");
        var load = await LoadRunner.ClosedAsync("identify", 8, (users + batch - 1) / batch, TimeSpan.FromSeconds(120),
            (i, token) =>
            {
                var start = i * batch;
                var count = (int)Math.Min(batch, users - start);
                return Bench.PostEventsAsync(client, projectId, Bench.IdentifyBatch(start, count, User), count, token);
            }, cancellationToken);
        Console.WriteLine($"    {load.Events:N0} events in {load.Elapsed.TotalSeconds:0.0} s, errors {load.Errors}; waiting for the lookups to settle");

        await Bench.SettleAsync(async token =>
        {
            var c = await sandbox.CountersAsync(token);
            return (c.Calls, c.LookupValues);
        }, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(options.QuotaSettleSeconds), cancellationToken);

        var counters = await sandbox.CountersAsync(cancellationToken);
        var quota = await server.QuotaAsync(projectId, cancellationToken);

        // Every QuotaSampleEvery-th user: what did the sync make of it?
        var sample = Enumerable.Range(0, users).Where(i => i % options.QuotaSampleEvery == 0).ToList();
        var outcomes = new ConcurrentDictionary<string, int>();
        await Parallel.ForEachAsync(sample, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken },
            async (i, token) =>
            {
                var outcome = Bench.Outcome(await server.GetUserAsync(projectId, $"quota-u{i}", token));
                outcomes.AddOrUpdate(outcome, 1, (_, n) => n + 1);
            });
        var deferredEstimate = (int)Math.Round(outcomes.GetValueOrDefault("deferred") * (double)users / sample.Count);

        report.Row("budget", $"{budgetCalls} calls (dailyLimit {options.QuotaDailyLimit}, reserve {options.QuotaReservePercent}%) = {budgetCalls * 300:N0} users");
        report.Row("users identified", $"{load.Events:N0} ({Bench.F(load.EventsPerSecond, "0")} events/s, errors {load.Errors})");
        report.Row("calls made (sandbox, counted)", $"{counters.CountedCalls} of budget {budgetCalls}; lookups {counters.LookupCalls} carrying {counters.LookupValues:N0} emails");
        report.Row("service quota used", quota is null ? "n/a (GET …/quota did not answer)" : $"{quota["used"]} of limit {quota["limit"]}, remaining {quota["remaining"]}, throttled {quota["throttled"]}");
        report.Row("breaches (sandbox 606/607/615)", $"{counters.Breaches}");
        report.Row("deferred", $"~{deferredEstimate:N0} users (sample of {sample.Count}: {string.Join(", ", outcomes.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} {kv.Value}"))})");

        report.Data["dailyLimit"] = options.QuotaDailyLimit;
        report.Data["reservePercent"] = options.QuotaReservePercent;
        report.Data["budgetCalls"] = budgetCalls;
        report.Data["users"] = users;
        report.Data["identify"] = load.ToJson();
        report.Data["sandbox"] = counters.ToJson();
        report.Data["serviceQuota"] = quota?.DeepClone();
        report.Data["sampleSize"] = sample.Count;
        report.Data["sampleOutcomes"] = new JsonObject([.. outcomes.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]);
        report.Data["deferredEstimate"] = deferredEstimate;
        report.Data["headline"] = new JsonObject
        {
            ["callsMade"] = counters.CountedCalls,
            ["budget"] = budgetCalls,
            ["breaches"] = counters.Breaches,
            ["deferredEstimate"] = deferredEstimate,
        };
        if (counters.Breaches > 0) report.Notes.Add("BREACH: the sandbox refused calls for a real limit; see sandbox.breachList");
        if (counters.CountedCalls > budgetCalls) report.Notes.Add("OVER BUDGET: more counted calls than the budget allows");
        return report;
    }
}
