namespace KarteMarketo.Contracts.LeadSync;

/// <summary>
/// The periodic sync of one project (keyed <c>s:{project}</c>, see <see cref="GrainKeys.SyncScheduler"/>): on a reminder
/// every <c>periodicSync.intervalMinutes</c>, looks up the emails seen in identify events since the last tick (kept in
/// the app's periodic-sync queue, written before the events endpoint answers), 300 per Marketo call. What the quota
/// does not allow stays pending for the next tick.
/// </summary>
[Alias("KarteMarketo.ISyncSchedulerGrain")]
public interface ISyncSchedulerGrain : IGrainWithStringKey
{
    /// <summary>Makes sure the reminder runs where periodic sync is on. Called by each silo once per project and
    /// interval when it first queues emails for it, never once per event.</summary>
    [Alias("EnsureScheduledAsync")]
    Task EnsureScheduledAsync();

    /// <summary>Starts a run now (as a tick would); returns the number of distinct emails queued for lookup.</summary>
    [Alias("RunNowAsync")]
    Task<int> RunNowAsync();

    /// <summary>The project's settings changed: register, re-register (new interval) or drop the reminder.</summary>
    [Alias("SettingsChangedAsync")]
    Task SettingsChangedAsync();

    /// <summary>Pending and running counts, the reminder's interval and the last run's outcome.</summary>
    [Alias("GetStatusAsync")]
    Task<SyncSchedulerStatus> GetStatusAsync();

    /// <summary>Internal: the grain calls itself to go on with a run in a new turn, so that no turn runs for long.</summary>
    [Alias("ContinueRunAsync"), OneWay]
    Task ContinueRunAsync();
}

/// <summary>The scheduler's figures.</summary>
/// <param name="Pending">Emails waiting for the next tick.</param>
/// <param name="Running">Emails of the current run not looked up yet.</param>
/// <param name="ReminderIntervalMinutes">The interval of the registered reminder, or null when none is registered.</param>
/// <param name="LastTickAt">When the last run started.</param>
/// <param name="LastRunCompletedAt">When the last run had looked up everything it took.</param>
/// <param name="LastError">Why the last run stopped early, or a warning (a custom field Marketo does not know).</param>
/// <param name="Calls">Marketo lookup calls made by periodic runs since the grain was created.</param>
[GenerateSerializer, Immutable, Alias("KarteMarketo.SyncSchedulerStatus")]
public sealed record SyncSchedulerStatus(
    [property: Id(0)] int Pending,
    [property: Id(1)] int Running,
    [property: Id(2)] int? ReminderIntervalMinutes,
    [property: Id(3)] DateTimeOffset? LastTickAt,
    [property: Id(4)] DateTimeOffset? LastRunCompletedAt,
    [property: Id(5)] string? LastError,
    [property: Id(6)] long Calls);
