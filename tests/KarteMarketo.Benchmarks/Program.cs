using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using KarteMarketo.Benchmarks;
using KarteMarketo.Benchmarks.Hosting;
using KarteMarketo.Benchmarks.Scenarios;

// The benchmark harness (issue 7): starts the server and Marketo sandbox as separate processes on loopback, drives
// them over HTTP, prints a table and writes benchmark-results/<scenario>-<timestamp>.json. See README "Performance".
BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (Exception ex) when (ex is ArgumentException or FormatException)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

var timestamp = DateTimeOffset.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
var outputDirectory = Path.GetFullPath(options.OutputDirectory);
var logDirectory = Path.Combine(outputDirectory, "logs", timestamp);
Directory.CreateDirectory(outputDirectory);

var machine = Machine.Describe();
Console.WriteLine($"KarteMarketo benchmark {options.Scenario}{(options.Smoke ? " (smoke)" : "")}, {(options.Postgres is null ? "embedded mode" : "PostgreSQL mode")}");
Console.WriteLine($"machine: {machine["processors"]} cores, {machine["memoryGb"]} GB, {machine["os"]}, .NET {machine["runtime"]}");
Console.WriteLine($"server: {options.ServerDll}{(options.ServerEnvironment.Count == 0 ? "" : " with " + string.Join(' ', options.ServerEnvironment.Select(kv => $"{kv.Key}={kv.Value}")))}");
Console.WriteLine($"host logs: {logDirectory}");

var scenarios = options.Scenario == "all" ? new[] { "ingest", "sync", "memory", "quota", "karte" } : new[] { options.Scenario };
var reports = new List<ScenarioReport>();
var failures = new JsonObject();
var total = Stopwatch.StartNew();
foreach (var scenario in scenarios)
{
    Console.WriteLine();
    Console.WriteLine($"-- {scenario} --");
    var clock = Stopwatch.StartNew();
    var runId = $"{timestamp}-{scenario}".Replace("-", "", StringComparison.Ordinal).ToLowerInvariant();
    await using var env = new BenchEnvironment(options, runId, logDirectory);
    try
    {
        var report = scenario switch
        {
            "ingest" => await IngestScenario.RunAsync(env, cancel.Token),
            "sync" => await SyncScenario.RunAsync(env, cancel.Token),
            "memory" => await MemoryScenario.RunAsync(env, cancel.Token),
            "quota" => await QuotaScenario.RunAsync(env, cancel.Token),
            "karte" => await KarteScenario.RunAsync(env, cancel.Token),
            "console" => await ConsoleScenario.RunAsync(env, cancel.Token),
            _ => throw new InvalidOperationException(scenario),
        };
        report.Data["elapsedSeconds"] = Math.Round(clock.Elapsed.TotalSeconds, 1);
        report.Print(Console.Out);
        Console.WriteLine($"  ({clock.Elapsed.TotalSeconds:0} s)");
        var file = Write(outputDirectory, $"{scenario}-{timestamp}.json", Envelope(report.ToJson()));
        Console.WriteLine($"  results: {file}");
        reports.Add(report);
    }
    catch (Exception ex) when (ex is not OperationCanceledException || !cancel.IsCancellationRequested)
    {
        Console.Error.WriteLine($"  {scenario} FAILED after {clock.Elapsed.TotalSeconds:0} s: {ex.GetType().Name}: {ex.Message}");
        failures[scenario] = $"{ex.GetType().Name}: {ex.Message}";
    }
}

if (scenarios.Length > 1)
{
    var all = Envelope(new JsonObject
    {
        ["scenario"] = "all",
        ["elapsedSeconds"] = Math.Round(total.Elapsed.TotalSeconds, 1),
        ["scenarios"] = new JsonArray([.. reports.Select(r => (JsonNode)r.ToJson())]),
        ["failures"] = failures,
    });
    Console.WriteLine();
    Console.WriteLine($"all scenarios: {total.Elapsed.TotalSeconds:0} s; results: {Write(outputDirectory, $"all-{timestamp}.json", all)}");
}
return failures.Count == 0 ? 0 : 1;

JsonObject Envelope(JsonObject body)
{
    body["timestamp"] = timestamp;
    body["mode"] = options.Postgres is null ? "embedded" : "postgres";
    body["smoke"] = options.Smoke;
    body["machine"] = machine.DeepClone();
    body["serverEnvironment"] = new JsonObject([.. options.ServerEnvironment.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]);
    body["commandLine"] = "dotnet run -c Release --project tests/KarteMarketo.Benchmarks -- " + string.Join(' ', args.Select(a =>
        a.Contains(' ', StringComparison.Ordinal) || a.Contains('=', StringComparison.Ordinal) ? "\"<redacted>\"" : a));
    return body;
}

static string Write(string directory, string name, JsonObject json)
{
    var path = Path.Combine(directory, name);
    File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    return path;
}

internal static class Machine
{
    public static JsonObject Describe()
    {
        double? memoryGb = null;
        if (File.Exists("/proc/meminfo"))
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            if (line is not null)
                memoryGb = Math.Round(long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0 / 1024.0, 1);
        }
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        return new JsonObject
        {
            ["processors"] = Environment.ProcessorCount,
            ["memoryGb"] = memoryGb,
            ["cpu"] = cpu,
            ["os"] = RuntimeInformation.OSDescription,
            ["runtime"] = RuntimeInformation.FrameworkDescription,
        };
    }
}
