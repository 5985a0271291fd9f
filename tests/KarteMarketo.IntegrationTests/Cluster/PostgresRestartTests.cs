using Xunit.Abstractions;
using System.Diagnostics;
using KarteMarketo.IntegrationTests.Cluster.Reliability;
using KarteMarketo.IntegrationTests.Infrastructure;

namespace KarteMarketo.IntegrationTests.Cluster;

/// <summary>
/// The PostgreSQL server is stopped under load and started again (the same cluster, same port). While it is down the
/// front doors must answer 503 problem+json, never 202 for something they could not store; once it is back the service
/// must recover by itself, and everything it accepted, before, during or after, must be applied.
/// </summary>
public sealed class PostgresRestartTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Requests_during_a_database_outage_fail_with_503_and_the_service_recovers_by_itself()
    {
        _ = PostgresServer.Directory; // fails at once, with a clear message, where the harness does not say where PG lives
        await using var db = await TestPostgres.CreateDatabaseAsync();
        var marketoStart = MarketoInstance.StartAsync();
        await using var cluster = await ThreeHostCluster.StartAsync(db.ConnectionString);
        cluster.LogName = "postgres-restart";
        await using var marketo = await marketoStart;
        var project = new ReliabilityProject("pg-restart", marketo);
        await project.SeedMarketoAsync(leads: 120);
        await project.CreateAsync(cluster);
        ReliabilityProject[] projects = [project];

        using var stopSampling = new CancellationTokenSource();
        var sampling = Load.SampleQuotaAsync(cluster, projects, stopSampling.Token);
        var clock = Stopwatch.StartNew();
        var load = Load.RunAsync(cluster, projects, TimeSpan.FromSeconds(40), TimeSpan.FromMilliseconds(150));
        DateTimeOffset stoppedAt, startedAt;
        await Task.Delay(TimeSpan.FromSeconds(10));
        try
        {
            stoppedAt = DateTimeOffset.UtcNow;
            await PostgresServer.StopAsync();
            output.WriteLine($"{clock.Elapsed}: PostgreSQL stopped");
            await Task.Delay(TimeSpan.FromSeconds(10)); // the outage
        }
        finally
        {
            if (!PostgresServer.IsRunning) await PostgresServer.StartAsync();
        }
        startedAt = DateTimeOffset.UtcNow;
        output.WriteLine($"{clock.Elapsed}: PostgreSQL started again");
        await load;

        var (result, after) = await Load.UntilCompleteAsync(() => project.VerifyAsync(cluster), TimeSpan.FromSeconds(180));
        await stopSampling.CancelAsync();
        await sampling;
        output.WriteLine(result.Describe());

        var failures = project.Ledger.Where(s => s.Answer != Answer.Accepted).ToList();
        var recovered = failures.Count == 0 ? TimeSpan.Zero : failures.Max(s => s.At) - startedAt;
        ReliabilitySummary.Add([new SummaryRow("PostgreSQL stopped 10 s under load, then started", result.Requests, result.Accepted, result.Delivered,
            result.Duplicates, result.Breaches, ReliabilitySummary.Seconds(recovered < TimeSpan.Zero ? TimeSpan.Zero : recovered),
            $"{failures.Count} answered 503 problem+json; all applied {ReliabilitySummary.Seconds(after)} after load")], output);

        Assert.True(result.Unclear == 0, "answers that were neither 2xx nor problem+json 5xx: " + result.Describe());
        Assert.DoesNotContain(project.Ledger, s => s.Answer == Answer.ConnectionFailed); // no host may die of it
        Assert.All(failures, f => Assert.Equal(503, f.Status));
        Assert.True(failures.Count > 0, "no request failed: the outage did not bite");
        Assert.True(result.Complete, "accepted but not applied: " + result.Describe() + "\n" + cluster.AllOutput());
        Assert.Equal(0, result.Duplicates);
        Assert.True(recovered < TimeSpan.FromSeconds(20), $"requests still failed {recovered} after the database was back");
        HostFailoverTests.AssertLimits(project, result);
    }
}
