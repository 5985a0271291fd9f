namespace KarteMarketo.Grains.Users;

/// <summary>
/// The app's table of KARTE users: their lookup keys, lead ids and synced user info (PostgreSQL in production,
/// memory in the embedded default). The lead sync writes it; the webhook flows read it.
/// </summary>
public interface IUserStore
{
    /// <summary>Records that <paramref name="userId"/> carries a key (idempotent). Called only for new links.</summary>
    Task LinkKeyAsync(string projectId, string userId, LeadKeyType type, string value, CancellationToken cancellationToken = default);

    /// <summary>The keys a user has been seen with.</summary>
    Task<IReadOnlyList<UserKey>> GetKeysAsync(string projectId, string userId, CancellationToken cancellationToken = default);

    /// <summary>Users whose synced lead has this id.</summary>
    Task<IReadOnlyList<string>> FindUsersByLeadIdAsync(string projectId, long leadId, CancellationToken cancellationToken = default);

    /// <summary>Whether the user has ever been seen.</summary>
    Task<bool> ExistsAsync(string projectId, string userId, CancellationToken cancellationToken = default);
}

/// <summary>A user's lookup key.</summary>
public sealed record UserKey(LeadKeyType Type, string Value);
