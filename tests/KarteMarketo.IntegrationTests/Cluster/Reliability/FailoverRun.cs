using System.Diagnostics;
using System.Globalization;
using KarteMarketo.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace KarteMarketo.IntegrationTests.Cluster.Reliability;

/// <summary>
/// One host-failure run: three hosts on a fresh database, one project on its own sandbox sending identify batches of
/// 50 new users, KARTE webhooks, Marketo webhooks and lead upserts to all three front doors, and writing to KARTE, while the test kills, restarts or pauses
/// hosts. Keeps when each host was down, when the cluster declared each killed silo dead, and when each user first
/// showed up synced, so the checks can tell a survivor's failure from a dead host's refused connection.
/// </summary>
public sealed class FailoverRun : IAsyncDisposable
{
    /// <summary>Load: one request every 300 ms, rotating host and kind (an identify batch every third group).</summary>
    public static readonly TimeSpan Every = TimeSpan.FromMilliseconds(300);

    /// <summary>The project's <c>karte.requestsPerSecond</c>.</summary>
    public const int KarteRequestsPerSecond = 100;

    private readonly TestDatabase db;
    private readonly MarketoInstance marketo;
    private readonly CancellationTokenSource stopLoad = new();
    private readonly CancellationTokenSource stopWatching = new();
    private readonly List<Task> watchers = [];
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private readonly ITestOutputHelper output;
    private Task? load;

    private FailoverRun(TestDatabase db, MarketoInstance marketo, ThreeHostCluster cluster, ReliabilityProject project, ITestOutputHelper output)
    {
        this.db = db;
        this.marketo = marketo;
        Cluster = cluster;
        Project = project;
        this.output = output;
    }

    public ThreeHostCluster Cluster { get; }
    public ReliabilityProject Project { get; }
    public DateTimeOffset LoadStarted { get; private set; }

    /// <summary>Each host's down times: from the kill until it was ready again (open while it is down).</summary>
    public List<(int Host, DateTimeOffset From, DateTimeOffset? To)> Down { get; } = [];

    /// <summary>Each kill: the host, its silo generation, when, and (once seen) when membership declared it dead.</summary>
    public List<Kill> Kills { get; } = [];

    public sealed class Kill(int host, int generation, DateTimeOffset at)
    {
        public int Host { get; } = host;
        public int Generation { get; } = generation;
        public DateTimeOffset At { get; } = at;
        public Task<DateTimeOffset?> DeclaredDead { get; init; } = Task.FromResult<DateTimeOffset?>(null);
    }

    public static async Task<FailoverRun> StartAsync(string name, ITestOutputHelper output)
    {
        var db = await TestPostgres.CreateDatabaseAsync();
        var marketoStart = MarketoInstance.StartAsync();
        var cluster = await ThreeHostCluster.StartAsync(db.ConnectionString);
        cluster.LogName = name;
        var marketo = await marketoStart;
        // Batches of 50 new users, each its own lead (4,000 leads cover a run on a quiet machine; later users reuse them); lookups gathered for 2 s, so the
        // three silos' lookups, activities and leads stay inside the sandbox's 100 calls per 20 s.
        // The project also writes to KARTE (the sandbox process's stand-in): user info of every synced user and the
        // Marketo webhooks the load adds, at most 100 calls a second.
        var project = new ReliabilityProject(name, marketo)
        {
            IdentifyBatch = 50, RealtimeBatchDelayMilliseconds = 2000, KarteRequestsPerSecond = KarteRequestsPerSecond,
        };
        await project.SeedMarketoAsync(leads: 4000, parallel: true);
        await project.CreateAsync(cluster);
        var run = new FailoverRun(db, marketo, cluster, project, output);
        run.watchers.Add(Load.SampleQuotaAsync(cluster, [project], run.stopWatching.Token));
        run.watchers.Add(project.WatchSyncAsync(cluster, run.stopWatching.Token));
        run.LoadStarted = DateTimeOffset.UtcNow;
        run.load = Load.RunAsync(cluster, [project], TimeSpan.FromMinutes(3), Every, run.stopLoad.Token);
        return run;
    }

    public void Log(string what) => output.WriteLine($"{clock.Elapsed:mm\\:ss\\.f} {what}");

    /// <summary>The host holding the quota grain (from the dashboard), waiting up to 40 s for it to show.</summary>
    public async Task<int?> QuotaHostAsync()
    {
        var wait = Stopwatch.StartNew();
        while (wait.Elapsed < TimeSpan.FromSeconds(40))
        {
            if (await Load.HostOfGrainAsync(Cluster, "MarketoQuotaGrain") is { } host && Cluster.IsUp(host)) return host;
            await Task.Delay(TimeSpan.FromMilliseconds(500));
        }
        return null;
    }

    /// <summary>Waits until <paramref name="sinceStart"/> after the load began.</summary>
    public async Task UntilAsync(TimeSpan sinceStart)
    {
        var left = LoadStarted + sinceStart - DateTimeOffset.UtcNow;
        if (left > TimeSpan.Zero) await Task.Delay(left);
    }

    /// <summary>SIGKILL; membership is watched in the background for the silo to be declared dead.</summary>
    public async Task<Kill> KillAsync(int host)
    {
        var generation = await Cluster.GenerationOfAsync(host) ?? throw new InvalidOperationException($"host {host} has no active silo");
        var at = DateTimeOffset.UtcNow;
        await Cluster.KillAsync(host);
        Down.Add((host, at, null));
        var kill = new Kill(host, generation, at) { DeclaredDead = Cluster.WaitDeclaredDeadAsync(host, generation, TimeSpan.FromSeconds(60)) };
        Kills.Add(kill);
        Log($"SIGKILLed host {host} (silo generation {generation})");
        return kill;
    }

    /// <summary>Starts a killed host again on its ports; returns once it is ready.</summary>
    public async Task RestartAsync(int host)
    {
        Log($"restarting host {host}");
        await Cluster.RestartAsync(host);
        var i = Down.FindLastIndex(d => d.Host == host && d.To is null);
        Down[i] = Down[i] with { To = DateTimeOffset.UtcNow };
        Log($"host {host} is back");
    }

    /// <summary>Ends the load after <paramref name="after"/>, then waits until every accepted item is applied (3 minutes
    /// at most) and stops the watchers.</summary>
    public async Task<(Verification Result, TimeSpan? CompleteAfter)> FinishAsync(TimeSpan after)
    {
        stopLoad.CancelAfter(after);
        await load!;
        Log("load ended");
        var outcome = await Load.UntilCompleteAsync(() => Project.VerifyAsync(Cluster), TimeSpan.FromSeconds(180));
        await stopWatching.CancelAsync();
        await Task.WhenAll(watchers);
        Log(outcome.Result.Describe());
        return outcome;
    }

    /// <summary>Was host <paramref name="host"/> down at any moment of [<paramref name="from"/>, <paramref name="to"/>]?</summary>
    public bool WasDown(int host, DateTimeOffset from, DateTimeOffset to) =>
        Down.Any(d => d.Host == host && d.From <= to && (d.To ?? DateTimeOffset.MaxValue) >= from);

    /// <summary>Requests that failed although their host was up the whole time: what issue 17 forbids.</summary>
    public List<Sent> SurvivorFailures() =>
        [.. Project.Ledger.Where(s => s.Answer != Answer.Accepted && !(s.Answer == Answer.ConnectionFailed && WasDown(s.Host, s.At, s.Ended)))];

    /// <summary>p99 of identify → synced for users accepted in the window, or null when there were none.</summary>
    public TimeSpan? SyncP99(DateTimeOffset from, DateTimeOffset to) => P99(Project.SyncLatencies(from, to));

    private static TimeSpan? P99(List<TimeSpan> latencies)
    {
        if (latencies.Count == 0) return null;
        latencies.Sort();
        return latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(latencies.Count * 0.99) - 1)];
    }

    /// <summary>The steady state: requests sent from 2 s into the load until 3 s before the first fault and answered
    /// before it (on a loaded machine the first answers take seconds, so the window goes by when they were sent).</summary>
    public TimeSpan? SteadySyncP99(DateTimeOffset firstFault) => P99(Project.SyncLatencies(s =>
        s.At >= LoadStarted + TimeSpan.FromSeconds(2) && s.At < firstFault - TimeSpan.FromSeconds(3) && s.Ended < firstFault));

    /// <summary>Users accepted around a kill: from 3 s before it (their lookups may sit in the dead silo's batcher)
    /// until 5 s after (accepted while the cluster was declaring it dead).</summary>
    public TimeSpan? KillSyncP99(Kill kill) => P99(Project.SyncLatencies(s => AroundKill(s, kill)));

    /// <summary>Sent from 3 s before the kill until 5 s after it (by when sent: on a loaded machine answers take seconds).</summary>
    private static bool AroundKill(Sent s, Kill kill) => s.At >= kill.At - TimeSpan.FromSeconds(3) && s.At < kill.At + TimeSpan.FromSeconds(5);

    /// <summary>Last time a user accepted around the kill showed up synced, measured from the kill.</summary>
    public TimeSpan? AllSyncedAfter(Kill kill)
    {
        var window = Project.Ledger.Where(s => s.Kind == "identify" && s.Answer == Answer.Accepted && AroundKill(s, kill))
            .SelectMany(s => s.Users ?? [s.Key]).ToList();
        if (window.Count == 0) return null;
        var times = window.Select(u => Project.SyncWatch.TryGetValue(u, out var at) ? at : (DateTimeOffset?)null).ToList();
        return times.Any(t => t is null) ? null : times.Max()!.Value - kill.At;
    }

    public static string Seconds(TimeSpan? span) => span is { } s ? s.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s" : "n/a";

    public async ValueTask DisposeAsync()
    {
        await stopLoad.CancelAsync();
        await stopWatching.CancelAsync();
        try
        {
            if (load is not null) await load;
            await Task.WhenAll(watchers);
        }
        catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException)
        {
        }
        await Cluster.DisposeAsync();
        await marketo.DisposeAsync();
        await db.DisposeAsync();
        stopLoad.Dispose();
        stopWatching.Dispose();
    }
}
