using KarteMarketo.Contracts.LeadSync;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>What a <see cref="LeadKeyGrain"/> persists. Written only when something changes (a new link, a window
/// start, a result), never on a repeated identify.</summary>
[GenerateSerializer, Alias("KarteMarketo.LeadKeyState")]
public sealed class LeadKeyState
{
    // Id 0 held the linked users until the user store became their one owner (LeadKeyGrain caches them from it);
    // stored states that still carry it are read without it.

    /// <summary>The lead found for the key (null: none, or not looked up yet).</summary>
    [Id(1)] public long? LeadId { get; set; }

    [Id(2)] public SyncResult? LastResult { get; set; }

    [Id(3)] public string? LastError { get; set; }

    /// <summary>Start of the realtime resync window: the last realtime lookup that was (or is being) made.</summary>
    [Id(4)] public DateTimeOffset? LastRequestAt { get; set; }

    /// <summary>The window start before the current one, restored when a lookup gets no permit (the window is then not started).</summary>
    [Id(5)] public DateTimeOffset? PreviousRequestAt { get; set; }

    [Id(6)] public DateTimeOffset? LastResultAt { get; set; }

    /// <summary>The user info <c>identify</c> object last written to the linked users (JSON), so that a user linking later
    /// gets it at once.</summary>
    [Id(7)] public string? LastIdentifyJson { get; set; }

    /// <summary>On an email key: user → cookie of the identify, tried where the pending (or backlogged) lookup finds no lead.</summary>
    [Id(8)] public Dictionary<string, string> CookieFallbacks { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The Marketo instance what the key learned belongs to (lead id, result, window): a project moving to
    /// another instance makes it all unknown at once. Null: nothing learned yet, or state older than the rule.</summary>
    [Id(9)] public string? Instance { get; set; }

    /// <summary>Users unlinked because more than <see cref="LeadKeyLinks.MaxUsersPerKey"/> linked to the key.</summary>
    [Id(10)] public int DroppedLinks { get; set; }

    /// <summary>When the key was deferred into the project's lead backlog (which looks it up by itself); null when not waiting there.</summary>
    [Id(11)] public DateTimeOffset? BackloggedAt { get; set; }
}
