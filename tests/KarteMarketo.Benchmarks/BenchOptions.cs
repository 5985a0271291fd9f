using System.Globalization;
using System.Reflection;

namespace KarteMarketo.Benchmarks;

/// <summary>Command-line options. Every load loop is bounded by these (request counts and durations), so a run always
/// ends by itself.</summary>
internal sealed class BenchOptions
{
    public required string Scenario { get; init; }

    /// <summary>PostgreSQL connection string: the server runs in PostgreSQL mode. Unset: the embedded default.</summary>
    public string? Postgres { get; init; }

    public string ServerDll { get; init; } = "";
    public string SandboxDll { get; init; } = "";
    public string FloorDll { get; init; } = "";
    public string StorageCeilingDll { get; init; } = "";
    public string OutputDirectory { get; init; } = "benchmark-results";

    /// <summary>Extra environment of every server process (<c>--server-env "K=V;K2=V2"</c>): runtime or host settings
    /// compared at the same load (say <c>DOTNET_gcServer=0</c>). Recorded in the results.</summary>
    public IReadOnlyDictionary<string, string> ServerEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>Small figures everywhere: checks that the harness works end to end in about a minute.</summary>
    public bool Smoke { get; init; }

    // ingest
    public int IngestConcurrency { get; init; } = 32;
    public double IngestSeconds { get; init; } = 15;
    public int IngestUsers { get; init; } = 10_000;
    public int IngestBatchSize { get; init; } = 100;
    public double PacedSeconds { get; init; } = 10;
    /// <summary>Requests/s of the open loop; 0 (the default) is half the batched maximum just measured. A fixed rate
    /// compares two builds at the same load.</summary>
    public double PacedRate { get; init; }
    /// <summary>Rounds of the open loop (server then floor each); the headline is the median round.</summary>
    public int PacedRounds { get; init; } = 3;
    /// <summary>What sends the ingest loops' requests: <c>raw</c> (<see cref="RawHttpPool"/>, the default) or
    /// <c>httpclient</c> (the generator of earlier runs, kept to compare with them).</summary>
    public string LoadClient { get; init; } = "raw";
    /// <summary>Rounds of floor and server measured back to back.</summary>
    public int IngestRounds { get; init; } = 2;
    /// <summary>PostgreSQL mode: seconds of each storage-ceiling loop and of the new-user phase.</summary>
    public double CeilingSeconds { get; init; } = 10;

    // sync
    public double SyncRate { get; init; } = 300;
    public double SyncSeconds { get; init; } = 20;
    public int SyncSampleEvery { get; init; } = 30;
    public int SyncBatchDelayMilliseconds { get; init; } = 1000;
    public double SyncSettleSeconds { get; init; } = 30;

    // memory
    public IReadOnlyList<int> MemoryKeys { get; init; } = [100_000, 1_000_000];
    public double MemoryIngestBudgetSeconds { get; init; } = 150;
    public int CollectionAgeSeconds { get; init; } = 30;
    public double CollectionWaitSeconds { get; init; } = 60;

    // quota
    public int QuotaDailyLimit { get; init; } = 10;
    public int QuotaReservePercent { get; init; } = 10;
    public int QuotaMultiplier { get; init; } = 10;
    public int QuotaSampleEvery { get; init; } = 100;
    public double QuotaSettleSeconds { get; init; } = 60;

    // karte
    public int KarteUsers { get; init; } = 1_000;
    public int KarteBacklog { get; init; } = 10_000;
    public int KarteCeiling { get; init; } = 1_000;
    public double KarteSettleSeconds { get; init; } = 60;

    // console
    public int ConsoleUsers { get; init; } = 100_000;
    public int ConsoleSynced { get; init; } = 5_000;
    public int ConsoleRequests { get; init; } = 200;

    public static string Usage =>
        """
        usage: dotnet run -c Release --project tests/KarteMarketo.Benchmarks -- <ingest|sync|memory|quota|karte|console|all> [options]
          --postgres "<connection string>"   run the server in PostgreSQL mode (default: embedded, in memory)
          --smoke                            small figures, to check the harness (about a minute per scenario)
          --out <dir>                        results folder (default benchmark-results)
          --server-env "K=V;K2=V2"           extra environment for every server process (runtime settings to compare)
          --server-dll <path> --sandbox-dll <path> --floor-dll <path> --storage-ceiling-dll <path>
                                             override the Release builds found at build time
          ingest: --concurrency 32 --ingest-seconds 15 --ingest-users 10000 --batch-size 100 --paced-seconds 10 --paced-rate 0 (half the batched maximum) --paced-rounds 3 --rounds 2
                  --load-client raw|httpclient (raw: keep-alive sockets, requests encoded once; the default)
                  --ceiling-seconds 10 (PostgreSQL mode: the raw write ceiling and the new-user rate)
          sync:   --sync-rate 300 --sync-seconds 20 --sync-sample-every 30 --batch-delay-ms 1000 --sync-settle-seconds 30
          memory: --memory-keys 100000,1000000 --memory-budget-seconds 150 --collection-age-seconds 30 --collection-wait-seconds 60
          console: --console-users 100000 --console-synced 5000 --console-requests 200 (not part of "all")
          quota:  --daily-limit 10 --reserve-percent 10 --quota-multiplier 10 --quota-sample-every 100 --quota-settle-seconds 60
          karte:  --karte-users 1000 --karte-backlog 10000 --karte-ceiling 1000 --karte-settle-seconds 60
        """;

    public static BenchOptions Parse(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith('-'))
            throw new ArgumentException("missing scenario");
        var scenario = args[0].ToLowerInvariant();
        if (scenario is not ("ingest" or "sync" or "memory" or "quota" or "karte" or "console" or "all"))
            throw new ArgumentException($"unknown scenario '{args[0]}'");

        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var flags = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 1; i < args.Length; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"unexpected argument '{arg}'");
            var name = arg[2..];
            if (name is "smoke") { flags.Add(name); continue; }
            if (i + 1 >= args.Length) throw new ArgumentException($"--{name} needs a value");
            values[name] = args[++i];
        }

        var smoke = flags.Contains("smoke");
        double D(string key, double normal, double small) =>
            values.Remove(key, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : smoke ? small : normal;
        int I(string key, int normal, int small) =>
            values.Remove(key, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : smoke ? small : normal;
        string? S(string key) => values.Remove(key, out var v) ? v : null;

        var options = new BenchOptions
        {
            Scenario = scenario,
            Smoke = smoke,
            Postgres = S("postgres"),
            ServerDll = S("server-dll") ?? BuiltPath("ServerDll"),
            SandboxDll = S("sandbox-dll") ?? BuiltPath("SandboxDll"),
            FloorDll = S("floor-dll") ?? BuiltPath("FloorDll"),
            StorageCeilingDll = S("storage-ceiling-dll") ?? BuiltPath("StorageCeilingDll"),
            OutputDirectory = S("out") ?? "benchmark-results",
            ServerEnvironment = ParseEnvironment(S("server-env")),
            IngestConcurrency = I("concurrency", 32, 16),
            IngestSeconds = D("ingest-seconds", 15, 3),
            IngestUsers = I("ingest-users", 10_000, 2_000),
            IngestBatchSize = I("batch-size", 100, 100),
            PacedSeconds = D("paced-seconds", 10, 3),
            PacedRate = D("paced-rate", 0, 0),
            PacedRounds = I("paced-rounds", 3, 1),
            IngestRounds = I("rounds", 2, 1),
            LoadClient = S("load-client") is { } loadClient
                ? loadClient is "raw" or "httpclient" ? loadClient : throw new ArgumentException("--load-client must be raw or httpclient")
                : "raw",
            CeilingSeconds = D("ceiling-seconds", 10, 3),
            SyncRate = D("sync-rate", 300, 100),
            SyncSeconds = D("sync-seconds", 20, 4),
            SyncSampleEvery = I("sync-sample-every", 30, 10),
            SyncBatchDelayMilliseconds = I("batch-delay-ms", 1000, 1000),
            SyncSettleSeconds = D("sync-settle-seconds", 30, 15),
            MemoryKeys = S("memory-keys") is { } keys
                ? [.. keys.Split(',').Select(k => int.Parse(k, CultureInfo.InvariantCulture))]
                : smoke ? [2_000, 10_000] : [100_000, 1_000_000],
            MemoryIngestBudgetSeconds = D("memory-budget-seconds", 150, 30),
            CollectionAgeSeconds = I("collection-age-seconds", 30, 15),
            CollectionWaitSeconds = D("collection-wait-seconds", 60, 40),
            QuotaDailyLimit = I("daily-limit", 10, 5),
            QuotaReservePercent = I("reserve-percent", 10, 20),
            QuotaMultiplier = I("quota-multiplier", 10, 3),
            QuotaSampleEvery = I("quota-sample-every", 100, 20),
            QuotaSettleSeconds = D("quota-settle-seconds", 60, 20),
            KarteUsers = I("karte-users", 1_000, 200),
            KarteBacklog = I("karte-backlog", 10_000, 500),
            KarteCeiling = I("karte-ceiling", 1_000, 1_000),
            KarteSettleSeconds = D("karte-settle-seconds", 60, 30),
            ConsoleUsers = I("console-users", 100_000, 2_000),
            ConsoleSynced = I("console-synced", 5_000, 500),
            ConsoleRequests = I("console-requests", 200, 20),
        };
        if (values.Count > 0) throw new ArgumentException($"unknown option(s): {string.Join(", ", values.Keys.Select(k => "--" + k))}");
        return options;
    }

    private static Dictionary<string, string> ParseEnvironment(string? text)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in (text ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var equals = pair.IndexOf('=');
            if (equals <= 0) throw new ArgumentException($"--server-env: '{pair}' is not KEY=VALUE");
            environment[pair[..equals]] = pair[(equals + 1)..];
        }
        return environment;
    }

    /// <summary>The Release build of a host, recorded by the project file when the harness was built.</summary>
    private static string BuiltPath(string name) =>
        typeof(BenchOptions).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == name)?.Value ?? "";
}
