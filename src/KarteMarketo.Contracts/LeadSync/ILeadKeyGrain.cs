using KarteMarketo.Contracts.Quota;

namespace KarteMarketo.Contracts.LeadSync;

/// <summary>
/// One lookup key of a project (keyed <c>k:{project}/{email|cookie}/{value}</c>, see <see cref="GrainKeys.LeadKey"/>):
/// owns the realtime resync window, the users linked to the key, the lead id and the last outcome.
/// Writes state only when something changes, so repeated identify events touch no database.
/// </summary>
[Alias("KarteMarketo.ILeadKeyGrain")]
public interface ILeadKeyGrain : IGrainWithStringKey
{
    /// <summary>An identify event for <see cref="IdentifyCommand.UserId"/> carried this key: link the user and,
    /// where realtime sync is on and the key is outside its window, start the window and queue a lookup.</summary>
    [Alias("IdentifyAsync")]
    Task IdentifyAsync(IdentifyCommand command);

    /// <summary>What the key knows (linked users, lead id, last outcome, window).</summary>
    [Alias("GetAsync")]
    Task<LeadKeyView> GetAsync();

    /// <summary>The lead id for this key: the cached one, else one batched lookup (taking a permit of
    /// <paramref name="purpose"/>). Used by the outbox dispatchers.</summary>
    /// <remarks>Interleaves with the key's other calls: it waits for the batched answer, which arrives as a call too.</remarks>
    [Alias("ResolveLeadIdAsync"), AlwaysInterleave]
    Task<LeadIdResolution> ResolveLeadIdAsync(MarketoCallPurpose purpose);

    /// <summary>A lead id learned elsewhere (a lead upsert's result).</summary>
    [Alias("RecordLeadIdAsync")]
    Task RecordLeadIdAsync(long leadId);

    /// <summary>Links a user to the key without any lookup (the cookie of an identify that also carried an email:
    /// the email is tried first and hands over to the cookie where it finds no lead).</summary>
    [Alias("LinkUserAsync")]
    Task LinkUserAsync(string userId);

    /// <summary>A lookup's answer for this key (from the batcher or the periodic scheduler): records it and writes a
    /// found lead to every linked user.</summary>
    [Alias("ApplyLookupResultAsync")]
    Task ApplyLookupResultAsync(LeadLookupResult result);

    /// <summary>The user's identify carried another email, or the user was dropped as the oldest of too many: the user is
    /// no longer linked to this key for any purpose (user info, webhooks, activities, segments).</summary>
    /// <remarks>One-way: the key that took the user over calls it while it is in its own turn, and the two keys may be
    /// calling each other at once (a user going back and forth between two emails).</remarks>
    [Alias("UnlinkUserAsync"), OneWay]
    Task UnlinkUserAsync(string userId);

    /// <summary>Marketo answered 1004 (lead not found) for <paramref name="leadId"/> on an activity: forget the cached id
    /// (where it is still that one) so that the next resolution looks the lead up again.</summary>
    [Alias("ForgetLeadIdAsync")]
    Task ForgetLeadIdAsync(long leadId);

    /// <summary>The key's realtime lookup was queued long ago and never answered (its silo died, or handing over the
    /// result failed): queue it again if the key is still pending, else forget the journal record.</summary>
    [Alias("RecoverLookupAsync")]
    Task RecoverLookupAsync();
}

/// <summary>Bounds of the links between users and one key (API.md, "Bounds").</summary>
public static class LeadKeyLinks
{
    /// <summary>At most this many users are linked to one key; a new link beyond it drops the oldest.</summary>
    public const int MaxUsersPerKey = 100;
}

/// <summary>An identify event as one key sees it.</summary>
/// <param name="UserId">The KARTE user.</param>
/// <param name="CookieFallback">On an email key: the cookie the same identify carried, looked up where the email finds no lead.</param>
[GenerateSerializer, Immutable, Alias("KarteMarketo.IdentifyCommand")]
public sealed record IdentifyCommand(
    [property: Id(0)] string UserId,
    [property: Id(1)] string? CookieFallback);

/// <summary>The outcomes in <c>sync.lastResult</c>.</summary>
public enum SyncResult
{
    Pending = 0,
    Synced = 1,
    NotFound = 2,
    Failed = 3,
    Deferred = 4,
}

/// <summary>The names API.md gives the results (<c>sync.lastResult</c>).</summary>
public static class SyncResultNames
{
    /// <summary>Every result, in the order pages and answers list them.</summary>
    public static IReadOnlyList<SyncResult> All { get; } =
        [SyncResult.Synced, SyncResult.NotFound, SyncResult.Failed, SyncResult.Deferred, SyncResult.Pending];

    /// <summary><c>pending</c>, <c>synced</c>, <c>notFound</c>, <c>failed</c> or <c>deferred</c>.</summary>
    public static string ToKeyword(this SyncResult result) => result switch
    {
        SyncResult.Pending => "pending",
        SyncResult.Synced => "synced",
        SyncResult.NotFound => "notFound",
        SyncResult.Failed => "failed",
        SyncResult.Deferred => "deferred",
        _ => throw new ArgumentOutOfRangeException(nameof(result), result, null),
    };
}

/// <summary>What a key knows. <paramref name="DroppedLinks"/>: users unlinked because more than
/// <c>LeadKeyLinks.MaxUsersPerKey</c> linked to the key (the oldest go first).</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.LeadKeyView")]
public sealed record LeadKeyView(
    [property: Id(0)] IReadOnlyList<string> LinkedUsers,
    [property: Id(1)] long? LeadId,
    [property: Id(2)] SyncResult? LastResult,
    [property: Id(3)] string? LastError,
    [property: Id(4)] DateTimeOffset? LastRequestAt,
    [property: Id(5)] DateTimeOffset? NextEligibleAt,
    [property: Id(6)] int DroppedLinks = 0);

public enum LeadIdStatus
{
    Found = 0,
    NotFound = 1,
    /// <summary>No permit (quota, window, back-off): try again later.</summary>
    Deferred = 2,
    /// <summary>Marketo failed (transient after retries, or an error): try again later or give up.</summary>
    Failed = 3,
}

[GenerateSerializer, Immutable, Alias("KarteMarketo.LeadIdResolution")]
public sealed record LeadIdResolution(
    [property: Id(0)] LeadIdStatus Status,
    [property: Id(1)] long? LeadId,
    [property: Id(2)] string? Error);
