using KarteMarketo.Grains.Flows.CustomActivities;
using KarteMarketo.Grains.Flows.LeadUpserts;

namespace KarteMarketo.Grains.Outbox;

/// <summary>
/// The durable outboxes (PostgreSQL in production, memory in the embedded default). Writers add rows before they
/// answer 202; each project's dispatcher grain claims, sends and finishes them. Every method throws
/// <see cref="Storage.StoreUnavailableException"/> when the database cannot be reached.
/// </summary>
public interface IOutboxStore
{
    /// <summary>Adds rows; a delivery id already present for the project and kind is left alone.
    /// Returns the delivery ids that were new.</summary>
    Task<IReadOnlySet<string>> EnqueueAsync(string projectId, OutboxKind kind, IReadOnlyList<OutboxEntry> entries,
        DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>Claims up to <paramref name="limit"/> due rows (pending and due, or in flight with an expired lease),
    /// oldest first, under <paramref name="leaseId"/> until <paramref name="leaseUntil"/>; claims nothing when fewer
    /// than <paramref name="minimum"/> are due.</summary>
    Task<IReadOnlyList<OutboxRow>> ClaimAsync(string projectId, OutboxKind kind, int limit, int minimum, Guid leaseId,
        DateTimeOffset now, DateTimeOffset leaseUntil, CancellationToken cancellationToken = default);

    /// <summary>Marks claimed rows as about to be sent (the last write before the Marketo call); returns how many still
    /// carried <paramref name="leaseId"/>. Fewer than asked means another activation took rows over: do not send.</summary>
    Task<int> MarkSendingAsync(Guid leaseId, IReadOnlyCollection<long> ids, DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>Finishes claimed rows (delivered, failed, or back to pending), only while they still carry <paramref name="leaseId"/>.</summary>
    Task CompleteAsync(Guid leaseId, IReadOnlyList<OutboxOutcome> outcomes, DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>Returns every in-flight row of a project and kind to pending, due now. Called by a dispatcher when it
    /// activates: the grain is the only claimer of its rows, so rows still in flight belong to an activation that is
    /// gone. Rows that were being sent are flagged as possible duplicates.</summary>
    Task<int> RecoverAsync(string projectId, OutboxKind kind, DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>Returns the in-flight rows claimed on silos that were declared dead (<c>holder</c>) to pending, due now
    /// (flagged as possible duplicates where they were being sent), and says whose dispatchers to wake. Each row goes
    /// back once, whoever calls.</summary>
    Task<IReadOnlyList<OutboxWork>> TakeOverAsync(IReadOnlyCollection<string> deadHolders, DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>When the next pending row of a project and kind is due, or null when none is pending.</summary>
    Task<DateTimeOffset?> NextDueAsync(string projectId, OutboxKind kind, CancellationToken cancellationToken = default);

    /// <summary>Projects and kinds with rows due by <paramref name="now"/> or in flight.</summary>
    Task<IReadOnlyList<OutboxWork>> FindWorkAsync(DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>Rows for the status endpoints, newest first; <paramref name="statuses"/> null or empty means all.</summary>
    Task<IReadOnlyList<OutboxRow>> ListAsync(string projectId, OutboxKind kind, IReadOnlyCollection<string>? statuses, int limit,
        CancellationToken cancellationToken = default);

    /// <summary>Puts failed rows back to pending, due now, with their attempts counted from zero again (a person
    /// asked, after fixing the cause): those in <paramref name="ids"/>, or, where it is null, every failed row of the
    /// project and kind (at most <paramref name="limit"/>, oldest first). The last error stays until the next attempt.
    /// Returns how many rows were put back.</summary>
    Task<int> RetryFailedAsync(string projectId, OutboxKind kind, IReadOnlyCollection<long>? ids, int limit, DateTimeOffset now,
        CancellationToken cancellationToken = default);

    /// <summary>How many rows of a project and kind are in each status (statuses without rows are left out).</summary>
    Task<IReadOnlyDictionary<string, long>> CountByStatusAsync(string projectId, OutboxKind kind, CancellationToken cancellationToken = default);

    /// <summary>Makes every pending row of a project and kind due now (a paused outbox resumes after a settings change);
    /// their order (by id) is kept. Returns how many.</summary>
    Task<int> MakeDueAsync(string projectId, OutboxKind kind, DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>The lead a cookie was last associated with through Associate Lead on Marketo instance
    /// <paramref name="instance"/>, or null. Keyed on the cookie's <paramref name="token"/> (its <c>token:</c> part,
    /// which Marketo associates on and which survives changes of its <c>id:</c> part).</summary>
    Task<long?> GetCookieAssociationAsync(string projectId, string instance, string token, CancellationToken cancellationToken = default);

    /// <summary>Remembers that a cookie token is associated with a lead of that instance.</summary>
    Task RecordCookieAssociationAsync(string projectId, string instance, string token, long leadId, DateTimeOffset now,
        CancellationToken cancellationToken = default);
}
