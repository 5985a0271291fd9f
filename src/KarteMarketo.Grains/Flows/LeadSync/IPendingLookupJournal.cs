namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>
/// The durable record of realtime lookups queued but not yet answered. The batcher keeps its queue in memory, so a
/// silo that dies takes its queued lookups with it; this journal is how another silo finds them again
/// (<see cref="PendingLookupRecovery"/>). PostgreSQL in production (<c>db/migrations/0130_pending_lookups.sql</c>),
/// memory in the embedded default.
/// </summary>
public interface IPendingLookupJournal
{
    /// <summary>Records (or refreshes) that a lookup of this key was queued at <paramref name="at"/>. Written before
    /// the lookup is queued, so a crash right after it can always be recovered.</summary>
    Task MarkAsync(string projectId, LeadKeyType type, string value, DateTimeOffset at, CancellationToken cancellationToken = default);

    /// <summary>Removes the records of these keys written at or before <paramref name="upTo"/> (a newer record belongs
    /// to a later lookup and stays).</summary>
    Task ClearAsync(string projectId, LeadKeyType type, IReadOnlyCollection<string> values, DateTimeOffset upTo,
        CancellationToken cancellationToken = default);

    /// <summary>Makes this silo the holder of up to <paramref name="limit"/> records held by silos that were declared
    /// dead and returns them (each record to one caller only). Records remember the silo that wrote them, whose batcher
    /// held the lookup in memory.</summary>
    Task<IReadOnlyList<PendingLookup>> TakeOverAsync(IReadOnlyCollection<string> deadHolders, int limit, CancellationToken cancellationToken = default);

    /// <summary>Up to <paramref name="limit"/> records written before <paramref name="before"/>, oldest first.</summary>
    Task<IReadOnlyList<PendingLookup>> FindOlderThanAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default);
}

/// <summary>A queued realtime lookup of one key.</summary>
public sealed record PendingLookup(string ProjectId, LeadKeyType Type, string Value, DateTimeOffset RequestedAt);
