using Xunit.Abstractions;
using System.Diagnostics;
using KarteMarketo.IntegrationTests.Cluster.Reliability;
using KarteMarketo.IntegrationTests.Infrastructure;

namespace KarteMarketo.IntegrationTests.Cluster;

/// <summary>
/// Three hosts as one cluster under a steady mix of identify events, KARTE webhooks and lead upserts spread over all
/// three front doors. The host that holds the Marketo quota grain is SIGKILLed mid-load and started again later.
/// Every request answered 2xx must be applied exactly once (counted at the sandbox); every other one must have failed
/// clearly; the survivors must carry on within the membership timeout; and the quota must hold throughout: our count
/// of the day never below the sandbox's, no 606/615/607 breach.
/// </summary>
public sealed class HostFailoverTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Killing_the_quota_grains_host_under_load_loses_nothing_and_breaks_no_limit()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        var marketoStart = MarketoInstance.StartAsync();
        await using var cluster = await ThreeHostCluster.StartAsync(db.ConnectionString);
        cluster.LogName = "failover";
        await using var marketo = await marketoStart;
        var project = new ReliabilityProject("failover", marketo);
        await project.SeedMarketoAsync(leads: 150);
        await project.CreateAsync(cluster);
        ReliabilityProject[] projects = [project];

        using var stopSampling = new CancellationTokenSource();
        var sampling = Load.SampleQuotaAsync(cluster, projects, stopSampling.Token);

        // Warm-up: Marketo calls activate the quota grain somewhere in the cluster; find where.
        var clock = Stopwatch.StartNew();
        // The load runs until the killed host has been back for 10 s (bounded: 3 minutes at most).
        using var endLoad = new CancellationTokenSource();
        var load = Load.RunAsync(cluster, projects, TimeSpan.FromMinutes(3), TimeSpan.FromMilliseconds(120), endLoad.Token);
        int? victim = null;
        while (victim is null && clock.Elapsed < TimeSpan.FromSeconds(40))
        {
            victim = await Load.HostOfGrainAsync(cluster, "MarketoQuotaGrain");
            if (victim is null) await Task.Delay(TimeSpan.FromMilliseconds(500));
        }
        Assert.True(victim is not null, "the dashboard never showed the quota grain's activation\n" + cluster.AllOutput());
        var killed = victim.Value;
        if (clock.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(TimeSpan.FromSeconds(10) - clock.Elapsed);

        var killedAt = DateTimeOffset.UtcNow;
        await cluster.KillAsync(killed);
        output.WriteLine($"{clock.Elapsed}: SIGKILLed host {killed} (quota grain's host)");
        await Task.Delay(TimeSpan.FromSeconds(10)); // the host stays dead for a while: load keeps going to all three
        var restartBegan = DateTimeOffset.UtcNow;
        await cluster.RestartAsync(killed);
        var restartedAt = DateTimeOffset.UtcNow;
        output.WriteLine($"{clock.Elapsed}: host {killed} is back");
        endLoad.CancelAfter(TimeSpan.FromSeconds(10));
        await load;

        var (result, after) = await Load.UntilCompleteAsync(() => project.VerifyAsync(cluster), TimeSpan.FromSeconds(180));
        await stopSampling.CancelAsync();
        await sampling;
        output.WriteLine(result.Describe());

        // Survivors: failures only while the dead silo was being declared dead (and a few while it joins again).
        var survivorFailures = project.Ledger.Where(s => s.Host != killed && s.Answer != Answer.Accepted).ToList();
        var afterKill = survivorFailures.Where(s => s.At < restartBegan).ToList();
        var survivorsBack = afterKill.Count == 0 ? TimeSpan.Zero : afterKill.Max(s => s.Ended) - killedAt;
        var row = new SummaryRow($"host SIGKILL (quota grain's, host {killed}) + restart", result.Requests, result.Accepted,
            result.Delivered, result.Duplicates, result.Breaches, ReliabilitySummary.Seconds(survivorsBack),
            $"{afterKill.Count} clear failures on survivors after the kill, {survivorFailures.Count - afterKill.Count} while it rejoined; {project.Ledger.Count(s => s.Answer == Answer.ConnectionFailed)} refused/cut on the dead host; " +
            $"all applied {ReliabilitySummary.Seconds(after)} after load; quota samples {project.QuotaSamples}");
        row = row with { SurvivorFailures = survivorFailures.Count.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (result.Missing.Count > 0) row = row with { Notes = row.Notes + $"; {result.Missing.Count} accepted but not applied" };
        ReliabilitySummary.Add([row], output);

        Assert.True(result.Unclear == 0, "answers that were neither 2xx, problem+json 5xx nor a dead host: " + result.Describe());
        Assert.All(project.Ledger.Where(s => s.Answer == Answer.ConnectionFailed), s =>
            Assert.True(s.Host == killed && s.Ended >= killedAt && s.At <= restartedAt, $"connection failure outside the kill: {s} (ended {s.Ended:HH:mm:ss.fff})"));
        // Includes identifies whose realtime lookup was still queued in the killed silo's batcher: the pending-lookup
        // journal has another silo queue them again (LeadSync:PendingLookupRecoveryAfter after they were accepted).
        Assert.True(result.Complete, "accepted but not applied: " + result.Describe() + "\n" + cluster.AllOutput());
        // A kill between Marketo's answer and recording it means a resend: allowed only where the row says so.
        var flagged = await project.FlaggedDuplicatesAsync(cluster);
        Assert.All(result.DuplicateIds, id => Assert.True(flagged.Contains(id), $"{id} reached Marketo twice without being flagged possibleDuplicate"));
        // The restarted host serves again, and the survivors accepted most of what they got.
        Assert.Contains(project.Ledger, s => s.Host == killed && s.At > restartedAt && s.Answer == Answer.Accepted);
        // A live host does not refuse anything because another host died (ClusterCallRetry rides out the membership delay).
        Assert.True(survivorFailures.Count == 0, $"survivors failed {survivorFailures.Count} requests: " +
            string.Join(" | ", survivorFailures.Take(5).Select(s => $"{s.Kind} host {s.Host} {s.Answer} {s.Status} {s.Detail}")));
        AssertLimits(project, result);
    }

    internal static void AssertLimits(ReliabilityProject project, Verification result)
    {
        Assert.True(project.QuotaSamples > 0, "the quota was never sampled");
        Assert.True(project.QuotaViolations.IsEmpty, $"{project.Id}: our day count fell below the sandbox's: " + string.Join("; ", project.QuotaViolations.Take(5)));
        Assert.True(result.Breaches == 0, $"{project.Id}: Marketo limits breached: {result.Describe()}");
        Assert.InRange(result.MaxInWindow, 0, 100);
        Assert.InRange(result.MaxInFlight, 0, 10);
    }
}
