using KarteMarketo.Contracts.Outbox;
using KarteMarketo.Grains.Background;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

using KarteMarketo.Grains.Flows.CustomActivities;
using KarteMarketo.Grains.Flows.LeadUpserts;

namespace KarteMarketo.Grains.Outbox;

/// <summary>
/// Wakes the dispatchers of projects with due rows: once when the host has started (so work accepted before a crash
/// or restart resumes) and then every <see cref="OutboxOptions.ScanInterval"/> (so rows whose dispatcher was collected,
/// or lived on a silo that died, are picked up by a live one). One indexed query per interval and silo.
/// </summary>
public sealed partial class OutboxWorkScanner(
    IOutboxStore store,
    IGrainFactory grains,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    IOptions<OutboxOptions> options,
    ILogger<OutboxWorkScanner> logger) : PeriodicSiloScan(lifetime, time)
{
    protected override TimeSpan Interval => options.Value.ScanInterval;

    /// <summary>Wakes every dispatcher with work; returns how many were woken.</summary>
    public override async Task<int> ScanOnceAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var work = await store.FindWorkAsync(Time.GetUtcNow(), cancellationToken);
            foreach (var item in work)
            {
                IOutboxDispatcherGrain dispatcher = item.Kind == OutboxKind.Activities
                    ? grains.GetGrain<IActivityDispatcherGrain>(GrainKeys.ActivityDispatcher(item.ProjectId))
                    : grains.GetGrain<ILeadUpsertDispatcherGrain>(GrainKeys.LeadUpsertDispatcher(item.ProjectId));
                await dispatcher.WakeAsync(0);
            }
            return work.Count;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogScanFailed(ex);
            return 0;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Outbox scan failed; trying again at the next interval")]
    private partial void LogScanFailed(Exception ex);
}
