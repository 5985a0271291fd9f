namespace KarteMarketo.Grains.Identity;

/// <summary>
/// The app's table of KARTE users: their lookup keys, lead ids and synced user info (PostgreSQL in production,
/// memory in the embedded default). The lead sync writes it; the webhook flows read it. It owns the user ↔ key links
/// (<c>user_keys</c>); the lead-key grains keep a cache of their key's users derived from it.
/// </summary>
public interface IUserStore
{
    /// <summary>Records that <paramref name="userId"/> carries a key (idempotent). Called only for new links. The latest
    /// email wins: an email link ends the user's links to other emails, and where the user's lead was found by email
    /// that lead is cleared from the user (the new key writes its own). Returns the email values whose link ended.</summary>
    Task<IReadOnlyList<string>> LinkKeyAsync(string projectId, string userId, LeadKeyType type, string value,
        CancellationToken cancellationToken = default);

    /// <summary>Ends a user's link to a key. Where the user's lead came from that key (found by its type, with id
    /// <paramref name="leadId"/>), the lead is cleared from the user too.</summary>
    Task UnlinkKeyAsync(string projectId, string userId, LeadKeyType type, string value, long? leadId,
        CancellationToken cancellationToken = default);

    /// <summary>A key's lead is gone (deleted or merged away in Marketo): removes <c>marketo</c> and <c>marketo_hash</c>
    /// from those of <paramref name="userIds"/> whose lead was found by <paramref name="syncedBy"/>, and their lead id
    /// (they leave <c>marketo-lead-synced</c>). Returns the users that had a lead and lost it.</summary>
    Task<IReadOnlyList<string>> ClearLeadAsync(string projectId, IReadOnlyCollection<string> userIds, LeadKeyType syncedBy,
        CancellationToken cancellationToken = default);

    /// <summary>The project moved to Marketo instance <paramref name="instance"/>: every lead learned from another
    /// instance is cleared from its users at once. Returns how many users lost one.</summary>
    Task<int> ForgetOtherInstancesAsync(string projectId, string instance, CancellationToken cancellationToken = default);

    /// <summary>One page of the distinct key values of one type the project's users carry, in ordinal order after
    /// <paramref name="after"/> (for a resync of every known key).</summary>
    Task<IReadOnlyList<string>> ListKeyValuesAsync(string projectId, LeadKeyType type, string? after, int limit,
        CancellationToken cancellationToken = default);

    /// <summary>The users linked to a key: the newest <paramref name="limit"/> links, oldest first. This table owns the
    /// links; a lead-key grain's list of its users is read from here.</summary>
    Task<IReadOnlyList<string>> ListUsersOfKeyAsync(string projectId, LeadKeyType type, string value, int limit,
        CancellationToken cancellationToken = default);

    /// <summary>How many distinct key values of one type the project's users carry (what a resync would look up).</summary>
    Task<int> CountKeyValuesAsync(string projectId, LeadKeyType type, CancellationToken cancellationToken = default);

    /// <summary>The keys a user has been seen with.</summary>
    Task<IReadOnlyList<UserKey>> GetKeysAsync(string projectId, string userId, CancellationToken cancellationToken = default);

    /// <summary>Users whose synced lead has this id in Marketo instance <paramref name="instance"/> (a lead id means
    /// another person on another instance).</summary>
    Task<IReadOnlyList<string>> FindUsersByLeadIdAsync(string projectId, string instance, long leadId,
        CancellationToken cancellationToken = default);

    /// <summary>Whether the user has ever been seen.</summary>
    Task<bool> ExistsAsync(string projectId, string userId, CancellationToken cancellationToken = default);

    /// <summary>Records that these users have been seen (idempotent; events other than identify create no link).</summary>
    Task TouchUsersAsync(string projectId, IReadOnlyCollection<string> userIds, CancellationToken cancellationToken = default);

    /// <summary>Writes a lead found for a key to the users linked to it. A lead found by cookie does not replace one
    /// found by email (email is preferred), so such users are left as they are.</summary>
    Task ApplySyncResultAsync(string projectId, IReadOnlyCollection<string> userIds, UserSyncUpdate update,
        CancellationToken cancellationToken = default);

    /// <summary>What the sync wrote for a user, or null when the user was never seen.</summary>
    Task<StoredUserInfo?> GetUserInfoAsync(string projectId, string userId, CancellationToken cancellationToken = default);

    /// <summary>One page of a segment's users, ordered by user id (ordinal), after the cursor <paramref name="after"/>
    /// (a user id), with the segment's total count.</summary>
    Task<SegmentPage> GetSegmentAsync(string projectId, UserSegment segment, int limit, string? after,
        CancellationToken cancellationToken = default);
}

/// <summary>A user's lookup key.</summary>
public sealed record UserKey(LeadKeyType Type, string Value);

/// <summary>A lead found for a key, as written to each linked user: <paramref name="IdentifyJson"/> is the
/// user info's <c>identify</c> object (JSON object text) built from the lead and the project's settings;
/// <paramref name="Instance"/> the Marketo instance the lead id belongs to.</summary>
public sealed record UserSyncUpdate(LeadKeyType SyncedBy, long LeadId, string IdentifyJson, DateTimeOffset SyncedAt, string? Instance = null)
{
    /// <summary>Set when the project writes to KARTE: the store queues the identify write of every user it applies this
    /// update to, in the same commit (Flows/KarteWriteBack).</summary>
    public Flows.KarteWriteBack.KarteUserInfoWrite? Karte { get; init; }
}

/// <summary>A user's stored sync output. <paramref name="IdentifyJson"/> is null until a lead was found.</summary>
public sealed record StoredUserInfo(string UserId, string? IdentifyJson, long? LeadId, LeadKeyType? SyncedBy, DateTimeOffset? SyncedAt);

/// <summary>The segments of <c>GET …/segments/{segment}</c>.</summary>
public enum UserSegment
{
    /// <summary><c>marketo-lead-synced</c>: users with <c>identify.marketo.id</c>.</summary>
    MarketoLeadSynced = 0,
    /// <summary><c>marketo-cookie-synced</c>: users whose lead was found by cookie.</summary>
    MarketoCookieSynced = 1,
}

/// <summary>One page of a segment: the total count, the users and the cursor of the next page (null at the end).</summary>
public sealed record SegmentPage(long Count, IReadOnlyList<string> Users, string? Next);
