namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>
/// The emails each project's periodic sync will look up: added (durably, before the events endpoint answers 202) as
/// identify events arrive, moved into a run on each tick, read a chunk at a time and removed once looked up.
/// PostgreSQL in production (<c>db/migrations/0140_periodic_sync_emails.sql</c>), memory in the embedded default.
/// </summary>
public interface IPeriodicSyncQueue
{
    /// <summary>Adds normalised emails (one already waiting or in the current run is not added again).</summary>
    Task AddAsync(string projectId, IReadOnlyCollection<string> emails, DateTimeOffset at, CancellationToken cancellationToken = default);

    /// <summary>Moves every waiting email into the run (a run in progress grows); returns the run's size.</summary>
    Task<int> StartRunAsync(string projectId, CancellationToken cancellationToken = default);

    /// <summary>The run's next emails in ordinal order, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<string>> NextInRunAsync(string projectId, int limit, CancellationToken cancellationToken = default);

    /// <summary>Removes looked-up emails from the run and, where it was given any, counts one more removal for the
    /// project (<see cref="RemovalsAsync"/>) in the same transaction, whether or not they were still in the run (a count
    /// that rises too often only costs a write).</summary>
    Task CompleteAsync(string projectId, IReadOnlyCollection<string> emails, CancellationToken cancellationToken = default);

    /// <summary>Gives the rest of the run back to the waiting emails (the next tick tries again).</summary>
    Task StopRunAsync(string projectId, CancellationToken cancellationToken = default);

    /// <summary>A realtime lookup answered for these emails at <paramref name="at"/>: where they are queued, the mark
    /// lets the periodic run of the same interval skip them (API.md, "One lookup per key per interval").</summary>
    Task MarkLookedUpAsync(string projectId, IReadOnlyCollection<string> emails, DateTimeOffset at, CancellationToken cancellationToken = default);

    /// <summary>Those of <paramref name="emails"/> a realtime lookup answered at or after <paramref name="since"/>.</summary>
    Task<IReadOnlySet<string>> LookedUpSinceAsync(string projectId, IReadOnlyCollection<string> emails, DateTimeOffset since,
        CancellationToken cancellationToken = default);

    /// <summary>How many times <see cref="CompleteAsync"/> was given emails of the project: nothing else takes an email
    /// out of the queue, so a host that read the same count before it stored an email and again later knows the email
    /// is still queued (waiting, or in the run that will look it up) without writing it again.</summary>
    Task<long> RemovalsAsync(string projectId, CancellationToken cancellationToken = default);

    /// <summary>How many emails wait for the next tick and how many the current run has left.</summary>
    Task<(int Waiting, int InRun)> CountAsync(string projectId, CancellationToken cancellationToken = default);
}
