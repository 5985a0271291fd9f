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
/// or lived on a silo that died, are picked up by a live one). One indexed query per interval and silo. That scan is
/// the second net for a dead silo's claims: <see cref="TakeOverAsync"/> (run by <see cref="SiloDeathWatch"/> when
/// membership declares a silo dead) returns them to pending at once and wakes their dispatchers.
/// </summary>
public sealed partial class OutboxWorkScanner(
    IOutboxStore store,
    IGrainFactory grains,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    IOptions<OutboxOptions> options,
    ILogger<OutboxWorkScanner> logger) : PeriodicSiloScan(lifetime, time), IDeadSiloTakeover
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
                await Dispatcher(grains, item.ProjectId, item.Kind).WakeAsync(0);
            }
            return work.Count;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogScanFailed(ex);
            return 0;
        }
    }

    /// <summary>Puts the rows claimed on dead silos back and wakes their dispatchers; returns how many dispatchers.
    /// A wake-up that fails leaves the rows pending and due: the next scan wakes them.</summary>
    public async Task<int> TakeOverAsync(IReadOnlyCollection<string> deadHolders, CancellationToken cancellationToken)
    {
        var work = await store.TakeOverAsync(deadHolders, Time.GetUtcNow(), cancellationToken);
        foreach (var item in work)
        {
            try
            {
                await Dispatcher(grains, item.ProjectId, item.Kind).WakeAsync(0);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogWakeFailed(ex, item.ProjectId);
            }
        }
        return work.Count;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project {ProjectId}: waking a dispatcher after a silo died failed; the outbox scan will")]
    private partial void LogWakeFailed(Exception ex, string projectId);

    /// <summary>The dispatcher grain of a project's outbox of <paramref name="kind"/>.</summary>
    public static IOutboxDispatcherGrain Dispatcher(IGrainFactory grains, string projectId, OutboxKind kind) => kind switch
    {
        OutboxKind.Activities => grains.GetGrain<IActivityDispatcherGrain>(GrainKeys.ActivityDispatcher(projectId)),
        OutboxKind.Leads => grains.GetGrain<ILeadUpsertDispatcherGrain>(GrainKeys.LeadUpsertDispatcher(projectId)),
        OutboxKind.Karte => grains.GetGrain<IKarteWriteDispatcherGrain>(GrainKeys.KarteWriteDispatcher(projectId)),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Outbox scan failed; trying again at the next interval")]
    private partial void LogScanFailed(Exception ex);
}
