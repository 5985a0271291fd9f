using KarteMarketo.Contracts.Outbox;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Outbox;

/// <summary>
/// Where flows 3 and 4 start (KARTE user → Marketo lead, KARTE event → Marketo activity) and where their status is
/// read: the front door hands checked rows here, which stores them (before the endpoint's 202) and wakes the
/// project's dispatcher of that kind; the outbox endpoints read their rows and counts through it.
/// </summary>
public sealed partial class OutboxIntake(IOutboxStore store, IGrainFactory grains, ILogger<OutboxIntake> logger)
{
    /// <summary>Stores the rows (a delivery id already present is left alone) and wakes the dispatcher; returns how
    /// many were new. A dispatcher that cannot be woken is only logged: the rows are stored, the outbox scan wakes it.</summary>
    public async Task<int> EnqueueAsync(string projectId, OutboxKind kind, IReadOnlyList<OutboxEntry> entries, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        if (entries.Count == 0) return 0;
        var added = await store.EnqueueAsync(projectId, kind, entries, now, cancellationToken);
        if (added.Count == 0) return 0;
        try
        {
            await DispatcherOf(grains, projectId, kind).WakeAsync(added.Count);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogWakeFailed(ex, projectId, kind);
        }
        return added.Count;
    }

    /// <summary>Rows for the status endpoints, newest first (see <see cref="IOutboxStore.ListAsync"/>).</summary>
    public Task<IReadOnlyList<OutboxRow>> ListAsync(string projectId, OutboxKind kind, IReadOnlyCollection<string>? statuses, int limit,
        CancellationToken cancellationToken) =>
        store.ListAsync(projectId, kind, statuses, limit, cancellationToken);

    /// <summary>How many rows are in each status (see <see cref="IOutboxStore.CountByStatusAsync"/>).</summary>
    public Task<IReadOnlyDictionary<string, long>> CountByStatusAsync(string projectId, OutboxKind kind, CancellationToken cancellationToken) =>
        store.CountByStatusAsync(projectId, kind, cancellationToken);

    /// <summary>The project's dispatcher grain of an outbox kind.</summary>
    internal static IOutboxDispatcherGrain DispatcherOf(IGrainFactory grains, string projectId, OutboxKind kind) => kind switch
    {
        OutboxKind.Activities => grains.GetGrain<IActivityDispatcherGrain>(GrainKeys.ActivityDispatcher(projectId)),
        OutboxKind.Leads => grains.GetGrain<ILeadUpsertDispatcherGrain>(GrainKeys.LeadUpsertDispatcher(projectId)),
        _ => grains.GetGrain<IKarteWriteDispatcherGrain>(GrainKeys.KarteWriteDispatcher(projectId)),
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Outbox {ProjectId}/{Kind}: rows are stored but their dispatcher could not be woken; the outbox scan will")]
    private partial void LogWakeFailed(Exception ex, string projectId, OutboxKind kind);
}
