using KarteMarketo.Contracts.Quota;

namespace KarteMarketo.Contracts.LeadSync;

/// <summary>What one Marketo lookup found for one key, handed by the batcher or the scheduler to its <see cref="ILeadKeyGrain"/>.</summary>
/// <param name="Result"><see cref="SyncResult.Synced"/>, <see cref="SyncResult.NotFound"/>, <see cref="SyncResult.Failed"/>
/// or <see cref="SyncResult.Deferred"/> (no permit: nothing was asked).</param>
/// <param name="LeadId">The lead's id where one was found.</param>
/// <param name="LeadJson">The lead as Marketo returned it (JSON object text) where one was found.</param>
/// <param name="Error">Why it failed or was deferred, or a warning that did not stop it (a custom field Marketo does not know).</param>
/// <param name="Purpose">What the lookup was for: realtime lookups move the resync window, the others do not.</param>
/// <param name="At">When the answer came.</param>
/// <param name="Instance">The Marketo instance that answered (<see cref="MarketoSettings.InstanceId"/>): a lead id
/// belongs to its instance, so a key whose project moved to another instance ignores the answer.</param>
/// <param name="Backlogged">On <see cref="SyncResult.Deferred"/>: the key was stored in the project's lead backlog, which
/// looks it up again by itself once the budget allows (so identifies of the key need not, and write nothing).</param>
[GenerateSerializer, Immutable, Alias("KarteMarketo.LeadLookupResult")]
public sealed record LeadLookupResult(
    [property: Id(0)] SyncResult Result,
    [property: Id(1)] long? LeadId,
    [property: Id(2)] string? LeadJson,
    [property: Id(3)] string? Error,
    [property: Id(4)] MarketoCallPurpose Purpose,
    [property: Id(5)] DateTimeOffset At,
    [property: Id(6)] string? Instance = null,
    [property: Id(7)] bool Backlogged = false);

/// <summary>One key to look up: its value (email normalised, or the whole cookie) and what the lookup is for.</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.LeadLookupRequest")]
public sealed record LeadLookupRequest(
    [property: Id(0)] string Value,
    [property: Id(1)] MarketoCallPurpose Purpose);
