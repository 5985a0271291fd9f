using System.Text.Json.Nodes;
using KarteMarketo.Benchmarks.Hosting;

namespace KarteMarketo.Benchmarks.Scenarios;

/// <summary>
/// Ingest: identify events through <c>POST /v1/projects/{id}/events</c>, one event per request and 100 per request
/// (closed loops at fixed concurrency), then an open loop paced at half the batched maximum to read p99 under a
/// sustainable load. The project has the default settings (realtime sync on); every user is identified once in a
/// warm-up first, so the measured events are the common case of a known user inside its resync window.
/// </summary>
internal static class IngestScenario
{
    public static async Task<ScenarioReport> RunAsync(BenchEnvironment env, CancellationToken cancellationToken)
    {
        var options = env.Options;
        var report = new ScenarioReport("ingest");
        var sandbox = await env.StartSandboxAsync("sandbox-ingest", cancellationToken);
        var server = await env.StartServerAsync("server-ingest", null, cancellationToken);
        var projectId = $"bench-ingest-{env.RunId}";
        var apiKey = await server.CreateProjectAsync(projectId, sandbox, _ => { }, cancellationToken);
        using var client = server.CreateProjectClient(apiKey, Math.Max(options.IngestConcurrency, 256));

        var pool = options.IngestUsers;
        (string, string) User(long i) => ($"ingest-u{i % pool}", $"ingest-{i % pool}@bench.example");
        var batch = options.IngestBatchSize;

        // Warm-up: every user once (their realtime lookups run now, not during the measurement), and the JIT.
        Console.WriteLine($"  warm-up: {pool} users in batches of {batch}");
        var warmup = await LoadRunner.ClosedAsync("warm-up", 8, (pool + batch - 1) / batch, TimeSpan.FromSeconds(120),
            (i, token) => Bench.PostEventsAsync(client, projectId, Bench.IdentifyBatch(i * batch, (int)Math.Min(batch, pool - i * batch), User),
                (int)Math.Min(batch, pool - i * batch), token), cancellationToken);
        if (warmup.Errors > 0) report.Notes.Add($"warm-up had {warmup.Errors} errors: {string.Join(", ", warmup.ErrorKinds.Select(kv => $"{kv.Key}={kv.Value}"))}");

        var duration = TimeSpan.FromSeconds(options.IngestSeconds);
        Console.WriteLine($"  single events: {options.IngestConcurrency} concurrent for {options.IngestSeconds} s");
        var single = await LoadRunner.ClosedAsync("single", options.IngestConcurrency, long.MaxValue, duration,
            (i, token) => Bench.PostEventsAsync(client, projectId, Bench.Identify($"ingest-u{i % pool}", $"ingest-{i % pool}@bench.example"), 1, token),
            cancellationToken);

        Console.WriteLine($"  batches of {batch}: {options.IngestConcurrency} concurrent for {options.IngestSeconds} s");
        var batched = await LoadRunner.ClosedAsync($"batch{batch}", options.IngestConcurrency, long.MaxValue, duration,
            (i, token) => Bench.PostEventsAsync(client, projectId, Bench.IdentifyBatch(i * batch, batch, User), batch, token),
            cancellationToken);

        var halfRate = batched.RequestsPerSecond / 2;
        Console.WriteLine($"  paced at half the batched maximum: {halfRate:0.0} requests/s ({halfRate * batch:0} events/s) for {options.PacedSeconds} s");
        var paced = await LoadRunner.PacedAsync($"batch{batch}-paced-50%", halfRate, TimeSpan.FromSeconds(options.PacedSeconds), 256,
            (i, token) => Bench.PostEventsAsync(client, projectId, Bench.IdentifyBatch(i * batch, batch, User), batch, token),
            cancellationToken);

        foreach (var run in new[] { single, batched })
        {
            report.Row($"{run.Name}: throughput", $"{Bench.F(run.EventsPerSecond, "0")} events/s, {Bench.F(run.RequestsPerSecond, "0")} requests/s");
            report.Row($"{run.Name}: latency", Bench.Latency(run.Service));
            report.Row($"{run.Name}: errors", $"{run.Errors} of {run.Requests}");
        }
        report.Row($"{paced.Name}: target", $"{Bench.F(halfRate * batch, "0")} events/s ({Bench.F(halfRate, "0.0")} requests/s), achieved {Bench.F(paced.EventsPerSecond, "0")} events/s");
        report.Row($"{paced.Name}: latency", Bench.Latency(paced.Intended) + " from intended start");
        report.Row($"{paced.Name}: errors", $"{paced.Errors} of {paced.Requests}, late starts {paced.LateStarts}");

        report.Data["users"] = pool;
        report.Data["concurrency"] = options.IngestConcurrency;
        report.Data["batchSize"] = batch;
        report.Data["warmup"] = warmup.ToJson();
        report.Data["single"] = single.ToJson();
        report.Data["batched"] = batched.ToJson();
        report.Data["pacedHalfLoad"] = paced.ToJson();
        report.Data["headline"] = new JsonObject
        {
            ["batchedEventsPerSecond"] = Math.Round(batched.EventsPerSecond, 0),
            ["singleEventsPerSecond"] = Math.Round(single.EventsPerSecond, 0),
            ["p99AtHalfLoadMs"] = Latencies.Round(paced.Intended.Ms(99)),
        };
        report.Data["sandbox"] = (await sandbox.CountersAsync(cancellationToken)).ToJson();
        report.Notes.Add("load generator and server share the machine's cores; figures are for this machine only");
        return report;
    }
}
