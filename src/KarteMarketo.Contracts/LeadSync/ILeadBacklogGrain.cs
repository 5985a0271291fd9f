namespace KarteMarketo.Contracts.LeadSync;

/// <summary>
/// The keys one project looks up again by itself (keyed <c>r:{project}</c>, see <see cref="GrainKeys.LeadBacklog"/>):
/// keys deferred for lack of a permit, retried once the window or the day allows without another identify, and keys a
/// resync queued (every known key: <c>POST …/sync/resync</c>, or the project moving to another Marketo instance).
/// Drained 300 keys per Marketo call, rationed as purpose <c>periodic</c>.
/// </summary>
[Alias("KarteMarketo.ILeadBacklogGrain")]
public interface ILeadBacklogGrain : IGrainWithStringKey
{
    /// <summary>Keys were stored in the backlog due at <paramref name="dueAt"/>: make sure a drain runs then.</summary>
    [Alias("WakeAtAsync")]
    Task WakeAtAsync(DateTimeOffset dueAt);

    /// <summary>Queues every key the project's users carry for a lookup now (batched and rationed); returns how many
    /// keys and how many Marketo calls that takes at 300 keys per call.</summary>
    [Alias("ResyncAllAsync")]
    Task<ResyncAccepted> ResyncAllAsync();

    /// <summary>What <see cref="ResyncAllAsync"/> would queue now, counted by the same rule, queuing nothing (the console
    /// shows it before a person confirms).</summary>
    [Alias("EstimateResyncAsync")]
    Task<ResyncAccepted> EstimateResyncAsync();

    /// <summary>The project's settings changed. Where its endpoint moved to another Marketo instance, every lead learned
    /// from the old one is dropped from the users at once and every known key is queued for a lookup on the new one.</summary>
    [Alias("SettingsChangedAsync")]
    Task SettingsChangedAsync();

    /// <summary>Keys held, when the next is due, and the drain's figures.</summary>
    [Alias("GetStatusAsync")]
    Task<LeadBacklogStatus> GetStatusAsync();

    /// <summary>Internal: the grain calls itself to go on draining in a new turn, so that no turn runs for long.</summary>
    [Alias("ContinueAsync"), OneWay]
    Task ContinueAsync();
}

/// <summary>A resync's size: keys queued and the Marketo calls they take (300 keys per call and key type).</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.ResyncAccepted")]
public sealed record ResyncAccepted([property: Id(0)] int Keys, [property: Id(1)] int EstimatedCalls);

/// <summary>The backlog's figures.</summary>
/// <param name="Keys">Keys waiting.</param>
/// <param name="NextDueAt">When the earliest is due (null: none waiting).</param>
/// <param name="LastDrainAt">When the drain last looked keys up.</param>
/// <param name="LastError">Why the drain last stopped early (no permit, Marketo failing).</param>
/// <param name="Calls">Marketo lookup calls the drain made since the grain was created.</param>
[GenerateSerializer, Immutable, Alias("KarteMarketo.LeadBacklogStatus")]
public sealed record LeadBacklogStatus(
    [property: Id(0)] int Keys,
    [property: Id(1)] DateTimeOffset? NextDueAt,
    [property: Id(2)] DateTimeOffset? LastDrainAt,
    [property: Id(3)] string? LastError,
    [property: Id(4)] long Calls);
