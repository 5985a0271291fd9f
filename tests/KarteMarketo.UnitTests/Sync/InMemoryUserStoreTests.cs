using KarteMarketo.Contracts;
using KarteMarketo.Grains.Identity;

namespace KarteMarketo.UnitTests.Sync;

public sealed class InMemoryUserStoreTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Links_keys_once_and_knows_the_user()
    {
        var store = new InMemoryUserStore();
        Assert.False(await store.ExistsAsync("p", "u1"));
        await store.LinkKeyAsync("p", "u1", LeadKeyType.Email, "a@example.com");
        await store.LinkKeyAsync("p", "u1", LeadKeyType.Email, "a@example.com");
        await store.LinkKeyAsync("p", "u1", LeadKeyType.Cookie, "id:1&token:_mch-x");
        Assert.True(await store.ExistsAsync("p", "u1"));
        Assert.False(await store.ExistsAsync("other", "u1"));
        Assert.Equal(2, (await store.GetKeysAsync("p", "u1")).Count);
    }

    [Fact]
    public async Task Cookie_result_does_not_replace_an_email_lead()
    {
        var store = new InMemoryUserStore();
        await store.ApplySyncResultAsync("p", ["u1", "u2"], new UserSyncUpdate(LeadKeyType.Email, 10, "{\"marketo\":{\"id\":10}}", At));
        await store.ApplySyncResultAsync("p", ["u1", "u3"], new UserSyncUpdate(LeadKeyType.Cookie, 20, "{\"marketo\":{\"id\":20}}", At));

        Assert.Equal(10, (await store.GetUserInfoAsync("p", "u1"))!.LeadId);
        Assert.Equal(LeadKeyType.Email, (await store.GetUserInfoAsync("p", "u1"))!.SyncedBy);
        Assert.Equal(20, (await store.GetUserInfoAsync("p", "u3"))!.LeadId);
        Assert.Equal(["u1", "u2"], await store.FindUsersByLeadIdAsync("p", "i", 10));

        // An email result does replace a cookie one.
        await store.ApplySyncResultAsync("p", ["u3"], new UserSyncUpdate(LeadKeyType.Email, 30, "{}", At));
        Assert.Equal(LeadKeyType.Email, (await store.GetUserInfoAsync("p", "u3"))!.SyncedBy);
    }

    [Fact]
    public async Task Segments_page_by_user_id_with_count()
    {
        var store = new InMemoryUserStore();
        var users = Enumerable.Range(0, 25).Select(i => $"u{i:D2}").ToArray();
        await store.TouchUsersAsync("p", ["never-synced"]);
        await store.ApplySyncResultAsync("p", users[..10], new UserSyncUpdate(LeadKeyType.Cookie, 1, "{}", At));
        await store.ApplySyncResultAsync("p", users[10..], new UserSyncUpdate(LeadKeyType.Email, 2, "{}", At));

        var all = new List<string>();
        string? after = null;
        do
        {
            var page = await store.GetSegmentAsync("p", UserSegment.MarketoLeadSynced, 10, after);
            Assert.Equal(25, page.Count);
            all.AddRange(page.Users);
            after = page.Next;
        }
        while (after is not null);
        Assert.Equal(users, all);

        var cookie = await store.GetSegmentAsync("p", UserSegment.MarketoCookieSynced, 100, null);
        Assert.Equal(10, cookie.Count);
        Assert.Equal(users[..10], cookie.Users);
        Assert.Null(cookie.Next);
    }
}
