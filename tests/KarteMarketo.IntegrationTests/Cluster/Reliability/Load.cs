using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace KarteMarketo.IntegrationTests.Cluster.Reliability;

/// <summary>Bounded load and polling helpers shared by the reliability tests.</summary>
public static partial class Load
{
    /// <summary>
    /// Sends one request per project every <paramref name="every"/> until <paramref name="duration"/> has passed,
    /// rotating the kind (identify, activity, lead; with a Marketo webhook beside each activity where the project
    /// writes to KARTE) and the host (all three, dead or alive: a dead host's connection
    /// failures are part of the picture). Requests are not awaited one by one, so a slow answer never slows the load.
    /// </summary>
    public static async Task RunAsync(ThreeHostCluster cluster, IReadOnlyList<ReliabilityProject> projects, TimeSpan duration, TimeSpan every,
        CancellationToken cancellationToken = default)
    {
        var inFlight = new List<Task>();
        var clock = Stopwatch.StartNew();
        using var timer = new PeriodicTimer(every);
        var tick = 0;
        while (clock.Elapsed < duration && !cancellationToken.IsCancellationRequested)
        {
            foreach (var project in projects)
            {
                var host = tick % 3;
                var kind = tick / 3 % 3;
                inFlight.Add(kind switch
                {
                    0 => project.SendIdentifyAsync(cluster, host),
                    1 => project.SendActivityAsync(cluster, host),
                    _ => project.SendLeadAsync(cluster, host),
                });
                // A project writing to KARTE also gets Marketo webhooks (events for KARTE) beside the KARTE webhooks.
                if (kind == 1 && project.Karte is not null) inFlight.Add(project.SendMarketoWebhookAsync(cluster, host));
            }
            tick++;
            await timer.WaitForNextTickAsync(CancellationToken.None);
        }
        await Task.WhenAll(inFlight);
    }

    /// <summary>Samples every project's quota invariant twice a second until cancelled.</summary>
    public static async Task SampleQuotaAsync(ThreeHostCluster cluster, IReadOnlyList<ReliabilityProject> projects, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
        while (!stop.IsCancellationRequested)
        {
            await Task.WhenAll(projects.Select(async p =>
            {
                try
                {
                    await p.SampleQuotaAsync(cluster);
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    // A host or sandbox going down between the two reads: no sample.
                }
            }));
            try
            {
                await timer.WaitForNextTickAsync(stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Polls <paramref name="verify"/> until it is complete or <paramref name="limit"/> has passed; returns the
    /// last verification and when it first was complete.</summary>
    public static async Task<(Verification Result, TimeSpan? CompleteAfter)> UntilCompleteAsync(Func<Task<Verification>> verify, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(2));
        while (true)
        {
            var result = await verify();
            if (result.Complete) return (result, clock.Elapsed);
            if (clock.Elapsed > limit) return (result, null);
            await timer.WaitForNextTickAsync();
        }
    }

    /// <summary>The host (index) on which the Orleans dashboard sees an activation of the grain class
    /// <paramref name="grainClass"/>, or null while none is seen.</summary>
    public static async Task<int?> HostOfGrainAsync(ThreeHostCluster cluster, string grainClass)
    {
        var counters = await cluster.GetAdminAsync("/dashboard/DashboardCounters");
        var stats = counters?["simpleGrainStats"]?.AsArray() ?? [];
        foreach (var stat in stats)
        {
            if (stat?["grainType"]?.ToString().Contains(grainClass, StringComparison.Ordinal) != true) continue;
            if (stat["activationCount"] is JsonNode count && (int)count == 0) continue;
            var silo = stat["siloAddress"]?.ToString() ?? "";
            var port = SiloPort().Match(silo);
            if (!port.Success) continue;
            for (var i = 0; i < 3; i++)
                if (cluster.SiloPortOf(i).ToString(System.Globalization.CultureInfo.InvariantCulture) == port.Groups[1].Value)
                    return i;
        }
        return null;
    }

    [GeneratedRegex(@"\d+\.\d+\.\d+\.\d+:(\d+)")]
    private static partial Regex SiloPort();
}
