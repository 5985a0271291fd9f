using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Background;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>
/// Finds realtime lookups that were queued but never answered (the silo whose batcher held them died, or handing a
/// result to its key failed) and wakes their key grains, which queue them again. Runs on every silo: once when the
/// host has started and then every <see cref="LeadSyncOptions.PendingLookupScanInterval"/>; one indexed query each.
/// Two silos waking the same key is harmless: the key grain ignores a second wake-up for the same lost lookup.
/// That scan is the second net: when membership declares a silo dead, <see cref="TakeOverAsync"/> (run by
/// <see cref="SiloDeathWatch"/>) takes over the journal rows that silo wrote and wakes their keys at once.
/// </summary>
public sealed partial class PendingLookupRecovery(
    IPendingLookupJournal journal,
    IGrainFactory grains,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    IOptions<LeadSyncOptions> options,
    ILogger<PendingLookupRecovery> logger) : PeriodicSiloScan(lifetime, time), IDeadSiloTakeover
{
    protected override TimeSpan Interval => options.Value.PendingLookupScanInterval;

    /// <summary>Wakes the key of every lookup pending for longer than the recovery time; returns how many.</summary>
    public override async Task<int> ScanOnceAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var before = Time.GetUtcNow() - options.Value.PendingLookupRecoveryAfter;
            var lost = await journal.FindOlderThanAsync(before, options.Value.PendingLookupScanLimit, cancellationToken);
            if (lost.Count == 0) return 0;
            LogRecovering(lost.Count);
            await WakeAsync(lost, cancellationToken);
            return lost.Count;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogScanFailed(ex);
            return 0;
        }
    }

    /// <summary>Takes over the journal rows of dead silos, a page at a time, and wakes their keys; returns how many.</summary>
    public async Task<int> TakeOverAsync(IReadOnlyCollection<string> deadHolders, CancellationToken cancellationToken)
    {
        var total = 0;
        while (true)
        {
            var page = await journal.TakeOverAsync(deadHolders, options.Value.PendingLookupScanLimit, cancellationToken);
            total += page.Count;
            // A key whose wake-up fails keeps its row (now held by this live silo): the time-based scan finds it.
            await WakeAsync(page, cancellationToken);
            if (page.Count < options.Value.PendingLookupScanLimit) return total;
        }
    }

    /// <summary>Wakes the keys of these lookups, a few at a time: each wake-up may queue a lookup and write the key's
    /// journal row.</summary>
    private Task WakeAsync(IReadOnlyList<PendingLookup> lookups, CancellationToken cancellationToken) =>
        Parallel.ForEachAsync(lookups, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
            async (item, _) =>
            {
                try
                {
                    await grains.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(item.ProjectId, item.Type, item.Value)).RecoverLookupAsync();
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogWakeFailed(ex, item.ProjectId);
                }
            });

    [LoggerMessage(Level = LogLevel.Information, Message = "Re-queuing {Count} realtime lookups that were never answered")]
    private partial void LogRecovering(int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project {ProjectId}: waking a key with a lost lookup failed; the next scan tries again")]
    private partial void LogWakeFailed(Exception ex, string projectId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Scan for lost lookups failed; trying again at the next interval")]
    private partial void LogScanFailed(Exception ex);
}
