using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using KarteMarketo.Benchmarks.Hosting;

namespace KarteMarketo.Benchmarks.Scenarios;

/// <summary>
/// Memory: working set and managed heap of the server with 100k and 1M known keys (identify events for that many
/// distinct users and emails; realtime sync off so that no lead is needed), read idle right after the ingest and again
/// after Orleans has collected the idle activations (the server is started with a short
/// <c>Orleans:GrainCollection:CollectionAge</c>). Each reading follows a full GC induced in the server.
/// The ingest toward each step is bounded by a time budget; a step not reached is reported as such and the figures
/// for it are extrapolated, labelled so.
/// </summary>
internal static class MemoryScenario
{
    public static async Task<ScenarioReport> RunAsync(BenchEnvironment env, CancellationToken cancellationToken)
    {
        var options = env.Options;
        var report = new ScenarioReport("memory");
        var sandbox = await env.StartSandboxAsync("sandbox-memory", cancellationToken);
        var age = TimeSpan.FromSeconds(options.CollectionAgeSeconds);
        var server = await env.StartServerAsync("server-memory", new Dictionary<string, string?>
        {
            ["Orleans__GrainCollection__CollectionAge"] = age.ToString("c", CultureInfo.InvariantCulture),
            ["Orleans__GrainCollection__CollectionQuantum"] = TimeSpan.FromSeconds(5).ToString("c", CultureInfo.InvariantCulture),
        }, cancellationToken);
        var projectId = $"bench-memory-{env.RunId}";
        var apiKey = await server.CreateProjectAsync(projectId, sandbox, settings =>
        {
            settings["realtimeSync"] = new JsonObject { ["enabled"] = false };
        }, cancellationToken);
        using var client = server.CreateProjectClient(apiKey, 16);
        const int batch = 100;
        (string, string) User(long i) => ($"mem-u{i}", $"mem-{i}@bench.example");

        var readings = new List<MemoryReading>();
        var baseline = await MemoryProbe.ReadAsync(server, "baseline (project created, no keys)", 0, cancellationToken);
        readings.Add(baseline);
        Print(baseline);

        // The budget counts ingest time only (not the readings and collection waits).
        var budgetLimit = TimeSpan.FromSeconds(options.MemoryIngestBudgetSeconds);
        var ingestSpent = TimeSpan.Zero;
        long sent = 0;
        var ingestRuns = new JsonArray();
        var steps = new JsonArray();
        (MemoryReading Idle, MemoryReading Collected, int Keys)? last = null;
        foreach (var target in options.MemoryKeys.Order())
        {
            if (target > sent)
            {
                var left = budgetLimit - ingestSpent;
                if (left <= TimeSpan.Zero)
                {
                    if (last is { } measured) Extrapolate(report, steps, options, baseline, measured.Idle, measured.Collected, measured.Keys, target);
                    break;
                }
                var first = sent;
                var requests = (target - first + batch - 1) / batch;
                Console.WriteLine($"  ingest keys {first:N0}..{target:N0} (ingest budget left {left.TotalSeconds:0} s)");
                var run = await LoadRunner.ClosedAsync($"ingest-to-{target}", 8, requests, left,
                    (i, token) =>
                    {
                        var start = first + i * batch;
                        var count = (int)Math.Min(batch, target - start);
                        return Bench.PostEventsAsync(client, projectId, Bench.IdentifyBatch(start, count, User), count, token);
                    }, cancellationToken);
                ingestSpent += run.Elapsed;
                // Requests are numbered, so the keys sent are a prefix only if none failed; count what was accepted.
                sent = first + run.Events;
                ingestRuns.Add(run.ToJson());
                Console.WriteLine($"    {run.Events:N0} events in {run.Elapsed.TotalSeconds:0.0} s ({run.EventsPerSecond:0}/s), errors {run.Errors}");
            }
            var keys = (int)sent;
            var idle = await MemoryProbe.ReadAsync(server, $"{keys:N0} keys, idle", keys, cancellationToken);
            readings.Add(idle);
            Print(idle);

            Console.WriteLine($"  waiting for activation collection (age {age.TotalSeconds:0} s, at most {options.CollectionWaitSeconds:0} s)");
            await WaitForCollectionAsync(server, baseline.Activations ?? 0, keys, TimeSpan.FromSeconds(options.CollectionWaitSeconds), cancellationToken);
            var collected = await MemoryProbe.ReadAsync(server, $"{keys:N0} keys, after activation collection", keys, cancellationToken);
            readings.Add(collected);
            Print(collected);
            last = (idle, collected, keys);

            steps.Add(new JsonObject
            {
                ["targetKeys"] = target,
                ["keys"] = keys,
                ["reached"] = keys >= target,
                ["idle"] = idle.ToJson(),
                ["afterCollection"] = collected.ToJson(),
                ["perHundredThousandKeys"] = PerHundredThousand(baseline, idle, collected, keys),
            });
            report.Row($"{keys:N0} keys idle", Describe(idle));
            report.Row($"{keys:N0} keys after collection", Describe(collected));
            if (keys > 0)
            {
                report.Row($"{keys:N0} keys: MB per 100k keys",
                    $"idle heap {Bench.F(Per(idle.ManagedHeapMb, baseline.ManagedHeapMb, keys))}, ws {Bench.F(Per(idle.WorkingSetMb, baseline.WorkingSetMb, keys))}; " +
                    $"collected heap {Bench.F(Per(collected.ManagedHeapMb, baseline.ManagedHeapMb, keys))}, ws {Bench.F(Per(collected.WorkingSetMb, baseline.WorkingSetMb, keys))}");
            }
            if (keys > 0 && PerKeyBytes(collected.ManagedHeapMb, baseline.ManagedHeapMb, keys) is { } perKey)
            {
                // Issue 18's figure: what an idle key costs once its activation is gone (goal ≤ 1 KB in PostgreSQL mode).
                report.Row($"{keys:N0} keys: heap per idle key", $"{Bench.F(perKey, "0")} bytes after collection " +
                    $"({Bench.F(PerKeyBytes(idle.ManagedHeapMb, baseline.ManagedHeapMb, keys), "0")} bytes with activations); goal ≤ 1,024 bytes in PostgreSQL mode");
                ((JsonObject)steps[^1]!)["heapBytesPerIdleKeyAfterCollection"] = Math.Round(perKey, 0);
            }
            if (keys < target)
            {
                Extrapolate(report, steps, options, baseline, idle, collected, keys, target);
                break;
            }
        }

        report.Row("baseline", Describe(baseline));
        report.Data["collectionAgeSeconds"] = options.CollectionAgeSeconds;
        report.Data["baseline"] = baseline.ToJson();
        report.Data["steps"] = steps;
        report.Data["ingest"] = ingestRuns;
        report.Data["readings"] = new JsonArray([.. readings.Select(r => (JsonNode)r.ToJson())]);
        report.Data["orleansCatalog"] = new JsonObject([.. (await server.MetricsAsync(cancellationToken)).WithPrefix("orleans_catalog")
            .Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]);
        report.Notes.Add("MB per 100k keys = (reading - baseline) / (keys / 100k); heap = managed heap after an induced full GC, ws = working set (VmRSS)");
        report.Notes.Add(options.Postgres is null
            ? "embedded mode: grain state and app tables live in this process, so memory after collection still holds every key's data"
            : "PostgreSQL mode: after collection, key data lives in the database");
        return report;
    }

    /// <summary>A step the ingest budget did not reach: a linear estimate from the last measured step, labelled so.</summary>
    private static void Extrapolate(ScenarioReport report, JsonArray steps, BenchOptions options, MemoryReading baseline,
        MemoryReading idle, MemoryReading collected, int keys, int target)
    {
        var perIdle = Per(idle.ManagedHeapMb, baseline.ManagedHeapMb, keys);
        var perCollected = Per(collected.ManagedHeapMb, baseline.ManagedHeapMb, keys);
        var perIdleWs = Per(idle.WorkingSetMb, baseline.WorkingSetMb, keys);
        var extrapolatedIdle = baseline.ManagedHeapMb + perIdle * target / 100_000.0;
        var extrapolatedCollected = baseline.ManagedHeapMb + perCollected * target / 100_000.0;
        var extrapolatedIdleWs = baseline.WorkingSetMb + perIdleWs * target / 100_000.0;
        report.Row($"{target:N0} keys (EXTRAPOLATED)",
            $"not reached in the {options.MemoryIngestBudgetSeconds:0} s ingest budget ({keys:N0} keys sent); linear estimate from {keys:N0} keys: " +
            $"heap idle ~{Bench.F(extrapolatedIdle, "0")} MB, heap after collection ~{Bench.F(extrapolatedCollected, "0")} MB, working set idle ~{Bench.F(extrapolatedIdleWs, "0")} MB");
        steps.Add(new JsonObject
        {
            ["targetKeys"] = target,
            ["reached"] = false,
            ["extrapolated"] = new JsonObject
            {
                ["fromKeys"] = keys,
                ["managedHeapIdleMb"] = Round(extrapolatedIdle),
                ["managedHeapAfterCollectionMb"] = Round(extrapolatedCollected),
                ["workingSetIdleMb"] = Round(extrapolatedIdleWs),
                ["method"] = "baseline + (measured MB per 100k keys) x target / 100k (linear)",
            },
        });
    }

    private static void Print(MemoryReading reading) => Console.WriteLine($"    {reading.Label}: {Describe(reading)}");

    private static string Describe(MemoryReading r) =>
        $"working set {Bench.F(r.WorkingSetMb, "0")} MB, managed heap {Bench.F(r.ManagedHeapMb, "0")} MB, activations {Bench.F(r.Activations, "0")}" +
        (r.FullGcObserved ? "" : " (no induced GC observed)");

    private static double? Per(double? value, double? baseline, int keys) =>
        value is { } v && baseline is { } b && keys > 0 ? (v - b) * 100_000.0 / keys : null;

    private static double? PerKeyBytes(double? valueMb, double? baselineMb, int keys) =>
        valueMb is { } v && baselineMb is { } b && keys > 0 ? (v - b) * 1024 * 1024 / keys : null;

    private static JsonObject PerHundredThousand(MemoryReading baseline, MemoryReading idle, MemoryReading collected, int keys) => new()
    {
        ["idleManagedHeapMb"] = Round(Per(idle.ManagedHeapMb, baseline.ManagedHeapMb, keys)),
        ["idleWorkingSetMb"] = Round(Per(idle.WorkingSetMb, baseline.WorkingSetMb, keys)),
        ["afterCollectionManagedHeapMb"] = Round(Per(collected.ManagedHeapMb, baseline.ManagedHeapMb, keys)),
        ["afterCollectionWorkingSetMb"] = Round(Per(collected.WorkingSetMb, baseline.WorkingSetMb, keys)),
    };

    private static double? Round(double? value) => value is { } v ? Math.Round(v, 1) : null;

    /// <summary>Waits (bounded) until the activation count is back near the baseline: within 1% of the keys.</summary>
    private static async Task WaitForCollectionAsync(ServerHandle server, double baselineActivations, int keys, TimeSpan timeout,
        CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var threshold = baselineActivations + Math.Max(50, keys / 100.0);
        while (clock.Elapsed < timeout)
        {
            var activations = (await server.MetricsAsync(cancellationToken)).Sum("orleans_catalog_activations");
            if (activations is null || activations <= threshold) return;
            await Task.Delay(1000, cancellationToken);
        }
    }
}
