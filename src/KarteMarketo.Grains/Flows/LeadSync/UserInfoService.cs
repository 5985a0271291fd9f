using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Identity;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>A user's sync output as the users endpoint shows it: what the store holds and the key whose sync state
/// speaks for the user (<see cref="LeadKeyPolicy.KeySpeakingForUserAsync"/>), with that key grain's view; both null
/// where the user has no key.</summary>
public sealed record UserInfoView(StoredUserInfo Stored, UserKey? Key, LeadKeyView? KeyView);

/// <summary>What flow 1 produced for KARTE users, read for the users and segments endpoints: the user table and the
/// lead-key grains, so that the front door reads neither directly.</summary>
public sealed class UserInfoService(IUserStore users, IGrainFactory grains)
{
    /// <summary>The user's info and speaking key, or null where the user has never been seen.</summary>
    public async Task<UserInfoView?> GetAsync(string projectId, string userId, CancellationToken cancellationToken)
    {
        var stored = await users.GetUserInfoAsync(projectId, userId, cancellationToken);
        if (stored is null) return null;
        var keys = await users.GetKeysAsync(projectId, userId, cancellationToken);
        var chosen = await LeadKeyPolicy.KeySpeakingForUserAsync(keys,
            key => grains.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(projectId, key.Type, key.Value)).GetAsync());
        return new UserInfoView(stored, chosen?.Key, chosen?.View);
    }

    /// <summary>One page of a segment's users (see <see cref="IUserStore.GetSegmentAsync"/>).</summary>
    public Task<SegmentPage> GetSegmentAsync(string projectId, UserSegment segment, int limit, string? after,
        CancellationToken cancellationToken) =>
        users.GetSegmentAsync(projectId, segment, limit, after, cancellationToken);
}
