using System.Collections.Concurrent;
using KarteMarketo.Grains.Background;
using KarteMarketo.Grains.Marketo;
using KarteMarketo.Grains.Projects;
using KarteMarketo.Marketo;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Quota;

/// <summary>The Marketo instances this silo called lately (noted by the gateway): the ones its reconciler asks about.</summary>
public sealed class MarketoInstancesInUse
{
    /// <summary>An instance not called for this long is no longer asked about.</summary>
    public static readonly TimeSpan Forget = TimeSpan.FromHours(1);

    private readonly ConcurrentDictionary<string, DateTimeOffset> _lastCall = new(StringComparer.Ordinal);

    public void Saw(string instanceId, DateTimeOffset at) => _lastCall[instanceId] = at;

    /// <summary>The instances called since <paramref name="now"/> − <see cref="Forget"/>; older ones are dropped.</summary>
    public IReadOnlyList<string> Active(DateTimeOffset now)
    {
        foreach (var (instance, at) in _lastCall)
        {
            if (now - at > Forget) _lastCall.TryRemove(new KeyValuePair<string, DateTimeOffset>(instance, at));
        }
        return [.. _lastCall.Keys];
    }
}

/// <summary>
/// Reads Marketo's own day count (<c>stats/usage.json</c>: other integrations spend the same quota) and hands it to the
/// instance's quota grain, which does no I/O itself. Runs on every silo every <see cref="MarketoQuotaGrain.CheckEvery"/>
/// for the instances the silo called lately; the grain hands out one claim per period, so the cluster reads once.
/// The read is a Marketo call like any other: through the gateway, purpose Other, a permit per attempt.
/// </summary>
public sealed partial class MarketoUsageReconciler(
    IGrainFactory grains,
    IMarketoGateway gateway,
    IProjectDirectory projects,
    MarketoInstancesInUse instances,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<MarketoUsageReconciler> logger) : PeriodicSiloScan(lifetime, time)
{
    protected override TimeSpan Interval => MarketoQuotaGrain.CheckEvery;

    /// <summary>Reads the usage of every instance whose grain says a reading is due; returns how many were read.</summary>
    public override async Task<int> ScanOnceAsync(CancellationToken cancellationToken = default)
    {
        var read = 0;
        foreach (var instance in instances.Active(Time.GetUtcNow()))
        {
            try
            {
                if (await ReconcileAsync(instance, cancellationToken)) read++;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogReadFailed(ex, instance);
            }
        }
        return read;
    }

    private async Task<bool> ReconcileAsync(string instance, CancellationToken cancellationToken)
    {
        var quota = grains.GetGrain<IMarketoQuotaGrain>(GrainKeys.Quota(instance));
        if (await quota.ClaimUsageReadAsync() is not { } projectId) return false;
        var record = await projects.GetAsync(projectId, cancellationToken);
        if (record is null || record.Settings.Marketo.InstanceId != instance) return false;

        // The project's own limits: the ledger keeps them per project and takes the strictest itself.
        var call = await gateway.CallAsync(projectId, record.Settings, MarketoCallPurpose.Other,
            (client, connection, ct) => client.GetDailyUsageAsync(connection, ct), cancellationToken);
        var reading = call.Outcome switch
        {
            MarketoOutcome.Completed when call.Value is { } usage => UsageReading.Read(usage.Date, usage.Total),
            MarketoOutcome.Deferred { Reason: var reason, Delay: var delay } when reason.IsOurQuota() => UsageReading.Refused(delay),
            _ => UsageReading.NoFigure,
        };
        await quota.ReportUsageAsync(reading);
        return reading.Total is not null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading Marketo's usage for {Instance} failed")]
    private partial void LogReadFailed(Exception ex, string instance);
}
