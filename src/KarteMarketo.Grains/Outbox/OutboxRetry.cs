using KarteMarketo.Contracts.Outbox;

namespace KarteMarketo.Grains.Outbox;

/// <summary>
/// Retrying failed outbox rows by hand (the API's <c>POST …/activities/retry</c> and <c>…/leads/retry</c>, and the
/// console's retry buttons): the rows go back to pending, due now, and the project's dispatcher is woken.
/// </summary>
public sealed class OutboxRetry(IOutboxStore store, IGrainFactory grains, TimeProvider time)
{
    /// <summary>At most this many rows per request.</summary>
    public const int MaxRows = 1000;

    /// <summary>Puts back the failed rows in <paramref name="ids"/>, or every failed row (up to <see cref="MaxRows"/>)
    /// where it is null; returns how many.</summary>
    public async Task<int> RetryAsync(string projectId, OutboxKind kind, IReadOnlyCollection<long>? ids, CancellationToken cancellationToken)
    {
        var count = await store.RetryFailedAsync(projectId, kind, ids, MaxRows, time.GetUtcNow(), cancellationToken);
        if (count == 0) return 0;
        await OutboxIntake.DispatcherOf(grains, projectId, kind).WakeAsync(count);
        return count;
    }
}
