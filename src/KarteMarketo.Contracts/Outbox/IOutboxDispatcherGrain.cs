namespace KarteMarketo.Contracts.Outbox;

/// <summary>
/// Drains one project's outbox towards Marketo in batches of up to 300. Woken when rows are added and by a per-silo
/// scan of rows that are due, so work resumes after a restart. Rows live in the outbox table, not in the grain.
/// </summary>
[Alias("KarteMarketo.IOutboxDispatcherGrain")]
public interface IOutboxDispatcherGrain : IGrainWithStringKey
{
    /// <summary><paramref name="added"/> rows were just stored (0 from the scan): drain once a batch is full or the
    /// batching delay has passed.</summary>
    [Alias("WakeAsync")]
    Task WakeAsync(int added);

    /// <summary>What the dispatcher is doing, for tests and diagnostics.</summary>
    [Alias("GetStatusAsync")]
    Task<OutboxDispatcherStatus> GetStatusAsync();
}

/// <summary>The activities dispatcher of a project (keyed <see cref="GrainKeys.ActivityDispatcher"/>).</summary>
[Alias("KarteMarketo.IActivityDispatcherGrain")]
public interface IActivityDispatcherGrain : IOutboxDispatcherGrain;

/// <summary>The lead upsert dispatcher of a project (keyed <see cref="GrainKeys.LeadUpsertDispatcher"/>).</summary>
[Alias("KarteMarketo.ILeadUpsertDispatcherGrain")]
public interface ILeadUpsertDispatcherGrain : IOutboxDispatcherGrain;

/// <summary>The KARTE write dispatcher of a project (keyed <see cref="GrainKeys.KarteWriteDispatcher"/>): one per project
/// cluster-wide, so its rate gate is the project's ceiling (<c>karte.requestsPerSecond</c>).</summary>
[Alias("KarteMarketo.IKarteWriteDispatcherGrain")]
public interface IKarteWriteDispatcherGrain : IOutboxDispatcherGrain
{
    /// <summary>The project's settings changed: a pause for a refused app token ends, and paused writes are due now.</summary>
    [Alias("SettingsChangedAsync")]
    Task SettingsChangedAsync();

    /// <summary>Whether the project's writes are paused (KARTE refused the app token) and why.</summary>
    [Alias("GetKarteStatusAsync")]
    Task<KarteDispatcherStatus> GetKarteStatusAsync();
}

/// <summary>The KARTE dispatcher's pause: set by a 401/403, cleared by a settings change.</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.KarteDispatcherStatus")]
public sealed record KarteDispatcherStatus(
    [property: Id(0)] bool Paused,
    [property: Id(1)] string? PausedReason,
    [property: Id(2)] DateTimeOffset? PausedAt);

/// <summary>A dispatcher's state in memory: whether it is draining, when it runs next, how many Marketo calls it made.</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.OutboxDispatcherStatus")]
public sealed record OutboxDispatcherStatus(
    [property: Id(0)] bool Draining,
    [property: Id(1)] DateTimeOffset? NextRunAt,
    [property: Id(2)] int CallsMade,
    [property: Id(3)] string? LastError);
