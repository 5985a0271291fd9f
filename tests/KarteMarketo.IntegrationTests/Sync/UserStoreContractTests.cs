using KarteMarketo.Contracts;
using KarteMarketo.Grains.Identity;
using KarteMarketo.IntegrationTests.Infrastructure;
using Npgsql;

namespace KarteMarketo.IntegrationTests.Sync;

/// <summary>What the lead sync and the webhook flows rely on from the user store, on both implementations.</summary>
public abstract class UserStoreContractTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    protected abstract IUserStore Store { get; }

    /// <summary>Each test works in its own project, so the tests of a class can share one database.</summary>
    private static string NewProject() => "p" + Guid.NewGuid().ToString("N")[..10];

    [Fact]
    public async Task Keys_are_linked_once_and_the_user_exists_from_then_on()
    {
        var p = NewProject();
        Assert.False(await Store.ExistsAsync(p, "u1"));
        Assert.Null(await Store.GetUserInfoAsync(p, "u1"));

        await Store.LinkKeyAsync(p, "u1", LeadKeyType.Email, "a@example.com");
        await Store.LinkKeyAsync(p, "u1", LeadKeyType.Email, "a@example.com");
        await Store.LinkKeyAsync(p, "u1", LeadKeyType.Cookie, "id:1-A-2&token:_mch-x-1");
        await Store.LinkKeyAsync(p, "u/2 with spaces", LeadKeyType.Email, "a@example.com");

        Assert.True(await Store.ExistsAsync(p, "u1"));
        Assert.False(await Store.ExistsAsync(NewProject(), "u1"));
        var keys = await Store.GetKeysAsync(p, "u1");
        Assert.Equal(2, keys.Count);
        Assert.Contains(new UserKey(LeadKeyType.Email, "a@example.com"), keys);
        Assert.Contains(new UserKey(LeadKeyType.Cookie, "id:1-A-2&token:_mch-x-1"), keys);
        var info = await Store.GetUserInfoAsync(p, "u/2 with spaces");
        Assert.NotNull(info);
        Assert.Null(info.IdentifyJson);
        Assert.Null(info.LeadId);
    }

    [Fact]
    public async Task Concurrent_links_and_results_land_whole_and_an_email_lead_still_wins_over_cookie_ones()
    {
        var p = NewProject();
        // Many key grains writing at the same moment (the stores may group them into shared statements).
        await Task.WhenAll(Enumerable.Range(0, 600).Select(i =>
            Store.LinkKeyAsync(p, $"user{i % 200}", i % 2 == 0 ? LeadKeyType.Email : LeadKeyType.Cookie, $"key{i % 300}")));
        // i = 0, 200, 400: emails key0, key200 and key100; the latest email wins, so one of them stays.
        Assert.Single(await Store.GetKeysAsync(p, "user0"));
        Assert.Equal(3, (await Store.GetKeysAsync(p, "user1")).Count);     // i = 1, 201, 401: cookies, all kept
        var writes = Enumerable.Range(0, 300).Select(i => Store.ApplySyncResultAsync(p, ["shared", $"own{i}"],
            i == 150
                ? new UserSyncUpdate(LeadKeyType.Email, 1_000, "{\"marketo\":{\"id\":1000}}", At)
                : new UserSyncUpdate(LeadKeyType.Cookie, 2_000 + i, $"{{\"marketo\":{{\"id\":{2_000 + i}}}}}", At.AddSeconds(i))));
        await Task.WhenAll(writes);

        var shared = await Store.GetUserInfoAsync(p, "shared");
        Assert.Equal(1_000, shared!.LeadId);
        Assert.Equal(LeadKeyType.Email, shared.SyncedBy);
        Assert.Equal(2_007, (await Store.GetUserInfoAsync(p, "own7"))!.LeadId);
        Assert.Equal(301, (await Store.GetSegmentAsync(p, UserSegment.MarketoLeadSynced, 1, null)).Count);
        Assert.Equal(299, (await Store.GetSegmentAsync(p, UserSegment.MarketoCookieSynced, 1, null)).Count);
    }

    [Fact]
    public async Task The_users_of_a_key_are_its_newest_links_oldest_first_and_follow_unlinks_and_newer_emails()
    {
        // The store owns the links: a lead-key grain reads its users from here.
        var p = NewProject();
        const string cookie = "id:1-A-2&token:_mch-x-1";
        foreach (var user in new[] { "u1", "u2", "u3", "u4" }) await Store.LinkKeyAsync(p, user, LeadKeyType.Email, "shared@example.com");
        await Store.LinkKeyAsync(p, "u1", LeadKeyType.Cookie, cookie);
        Assert.Equal(["u1", "u2", "u3", "u4"], await Store.ListUsersOfKeyAsync(p, LeadKeyType.Email, "shared@example.com", 10));
        Assert.Equal(["u3", "u4"], await Store.ListUsersOfKeyAsync(p, LeadKeyType.Email, "shared@example.com", 2));

        await Store.UnlinkKeyAsync(p, "u2", LeadKeyType.Email, "shared@example.com", null);
        await Store.LinkKeyAsync(p, "u3", LeadKeyType.Email, "newer@example.com");     // the latest email wins
        Assert.Equal(["u1", "u4"], await Store.ListUsersOfKeyAsync(p, LeadKeyType.Email, "shared@example.com", 10));
        Assert.Equal(["u3"], await Store.ListUsersOfKeyAsync(p, LeadKeyType.Email, "newer@example.com", 10));
        Assert.Equal(["u1"], await Store.ListUsersOfKeyAsync(p, LeadKeyType.Cookie, cookie, 10));
        Assert.Empty(await Store.ListUsersOfKeyAsync(NewProject(), LeadKeyType.Email, "shared@example.com", 10));
    }

    [Fact]
    public async Task Touch_records_users_idempotently()
    {
        var p = NewProject();
        await Store.TouchUsersAsync(p, ["a", "b"]);
        await Store.TouchUsersAsync(p, ["b", "c"]);
        Assert.True(await Store.ExistsAsync(p, "a"));
        Assert.True(await Store.ExistsAsync(p, "c"));
        Assert.Empty(await Store.GetKeysAsync(p, "a"));
    }

    [Fact]
    public async Task Sync_results_are_written_and_an_email_lead_is_not_replaced_by_a_cookie_one()
    {
        var p = NewProject();
        await Store.LinkKeyAsync(p, "u1", LeadKeyType.Email, "a@example.com");
        await Store.ApplySyncResultAsync(p, ["u1", "u2"], new UserSyncUpdate(LeadKeyType.Email, 10, """{"marketo":{"id":10,"firstName":"Ann"}}""", At));
        await Store.ApplySyncResultAsync(p, ["u1", "u3"], new UserSyncUpdate(LeadKeyType.Cookie, 20, """{"marketo":{"id":20}}""", At.AddMinutes(1)));

        var u1 = (await Store.GetUserInfoAsync(p, "u1"))!;
        Assert.Equal(10, u1.LeadId);
        Assert.Equal(LeadKeyType.Email, u1.SyncedBy);
        Assert.Equal(At, u1.SyncedAt);
        Assert.Contains("\"firstName\"", u1.IdentifyJson);
        Assert.Equal(20, (await Store.GetUserInfoAsync(p, "u3"))!.LeadId);
        Assert.Equal(["u1", "u2"], await Store.FindUsersByLeadIdAsync(p, "i", 10));
        Assert.Equal(["u3"], await Store.FindUsersByLeadIdAsync(p, "i", 20));

        // Email replaces cookie; a newer email result replaces an older one.
        await Store.ApplySyncResultAsync(p, ["u3", "u1"], new UserSyncUpdate(LeadKeyType.Email, 30, """{"marketo":{"id":30}}""", At.AddMinutes(2)));
        Assert.Equal(LeadKeyType.Email, (await Store.GetUserInfoAsync(p, "u3"))!.SyncedBy);
        Assert.Equal(30, (await Store.GetUserInfoAsync(p, "u1"))!.LeadId);
    }

    [Fact]
    public async Task The_latest_email_wins_and_ends_the_old_link_and_the_lead_it_gave()
    {
        var p = NewProject();
        Assert.Empty(await Store.LinkKeyAsync(p, "u1", LeadKeyType.Email, "old@example.com"));
        await Store.LinkKeyAsync(p, "u1", LeadKeyType.Cookie, "id:1-A-2&token:_mch-x-1");
        await Store.LinkKeyAsync(p, "u2", LeadKeyType.Email, "old@example.com");
        await Store.ApplySyncResultAsync(p, ["u1", "u2"], new UserSyncUpdate(LeadKeyType.Email, 10,
            """{"marketo":{"id":10},"marketo_hash":"h","birth_date":"x"}""", At, "i"));

        Assert.Equal(["old@example.com"], await Store.LinkKeyAsync(p, "u1", LeadKeyType.Email, "new@example.com"));
        var keys = await Store.GetKeysAsync(p, "u1");
        Assert.Equal(2, keys.Count);
        Assert.Contains(new UserKey(LeadKeyType.Email, "new@example.com"), keys);
        var u1 = (await Store.GetUserInfoAsync(p, "u1"))!;
        Assert.Null(u1.LeadId);
        Assert.DoesNotContain("marketo", u1.IdentifyJson ?? "");
        Assert.Equal(["u2"], await Store.FindUsersByLeadIdAsync(p, "i", 10));      // the other user keeps the shared email
        Assert.Equal(["new@example.com"], await Store.ListKeyValuesAsync(p, LeadKeyType.Email, null, 1));
        Assert.Equal(["new@example.com", "old@example.com"], await Store.ListKeyValuesAsync(p, LeadKeyType.Email, null, 10));
        Assert.Equal(["old@example.com"], await Store.ListKeyValuesAsync(p, LeadKeyType.Email, "new@example.com", 10));
        Assert.Empty(await Store.LinkKeyAsync(p, "u1", LeadKeyType.Cookie, "id:1-A-2&token:_mch-x-2"));
    }

    [Fact]
    public async Task Distinct_keys_are_counted_per_project_and_type_as_links_come_and_go()
    {
        var p = "count-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(0, await Store.CountKeyValuesAsync(p, LeadKeyType.Email));
        await Store.LinkKeyAsync(p, "u1", LeadKeyType.Email, "a@example.com");
        await Store.LinkKeyAsync(p, "u2", LeadKeyType.Email, "a@example.com");    // shared: one key
        await Store.LinkKeyAsync(p, "u3", LeadKeyType.Email, "b@example.com");
        await Store.LinkKeyAsync(p, "u1", LeadKeyType.Cookie, "id:1-A-2&token:_mch-c-1");
        await Store.LinkKeyAsync("other-" + p, "u1", LeadKeyType.Email, "z@example.com");
        Assert.Equal((2, 1), (await Store.CountKeyValuesAsync(p, LeadKeyType.Email), await Store.CountKeyValuesAsync(p, LeadKeyType.Cookie)));

        // u3's new email replaces b (the latest email wins); u1 leaves a, which u2 still carries.
        await Store.LinkKeyAsync(p, "u3", LeadKeyType.Email, "c@example.com");
        await Store.UnlinkKeyAsync(p, "u1", LeadKeyType.Email, "a@example.com", null);
        Assert.Equal(2, await Store.CountKeyValuesAsync(p, LeadKeyType.Email));
        await Store.UnlinkKeyAsync(p, "u2", LeadKeyType.Email, "a@example.com", null);
        Assert.Equal(1, await Store.CountKeyValuesAsync(p, LeadKeyType.Email));
        Assert.Equal(["c@example.com"], await Store.ListKeyValuesAsync(p, LeadKeyType.Email, null, 10));
    }

    [Fact]
    public async Task A_gone_lead_an_unlinked_key_and_a_move_to_another_instance_clear_the_users_lead()
    {
        var p = NewProject();
        await Store.ApplySyncResultAsync(p, ["a", "b", "c"], new UserSyncUpdate(LeadKeyType.Email, 10,
            """{"marketo":{"id":10},"marketo_hash":"h","birth_date":"x"}""", At, "one"));
        await Store.ApplySyncResultAsync(p, ["d"], new UserSyncUpdate(LeadKeyType.Cookie, 11, """{"marketo":{"id":11}}""", At, "one"));

        // Gone: only users whose lead came from that key type lose it; mapped fields stay.
        Assert.Equal(["a"], await Store.ClearLeadAsync(p, ["a", "d"], LeadKeyType.Email));
        Assert.Empty(await Store.ClearLeadAsync(p, ["a"], LeadKeyType.Email));
        var a = (await Store.GetUserInfoAsync(p, "a"))!;
        Assert.Null(a.LeadId);
        Assert.Equal("""{"birth_date":"x"}""", a.IdentifyJson!.Replace(" ", ""));
        Assert.Equal(11, (await Store.GetUserInfoAsync(p, "d"))!.LeadId);
        Assert.Equal(3, (await Store.GetSegmentAsync(p, UserSegment.MarketoLeadSynced, 10, null)).Count);

        // Unlinked from the key that gave the lead: cleared; from another key: kept.
        await Store.LinkKeyAsync(p, "b", LeadKeyType.Email, "b@example.com");
        await Store.UnlinkKeyAsync(p, "b", LeadKeyType.Cookie, "id:1-A-2&token:_mch-x-1", 10);
        Assert.Equal(10, (await Store.GetUserInfoAsync(p, "b"))!.LeadId);
        await Store.UnlinkKeyAsync(p, "b", LeadKeyType.Email, "b@example.com", 10);
        Assert.Null((await Store.GetUserInfoAsync(p, "b"))!.LeadId);
        Assert.Empty(await Store.GetKeysAsync(p, "b"));

        // A lead id names a lead of one instance only.
        Assert.Equal(["c"], await Store.FindUsersByLeadIdAsync(p, "one", 10));
        Assert.Empty(await Store.FindUsersByLeadIdAsync(p, "two", 10));
        await Store.ApplySyncResultAsync(p, ["e"], new UserSyncUpdate(LeadKeyType.Email, 12, """{"marketo":{"id":12}}""", At, "two"));
        Assert.Equal(2, await Store.ForgetOtherInstancesAsync(p, "two"));
        Assert.Null((await Store.GetUserInfoAsync(p, "c"))!.LeadId);
        Assert.Equal(["e"], (await Store.GetSegmentAsync(p, UserSegment.MarketoLeadSynced, 10, null)).Users);
    }

    [Fact]
    public async Task Segments_count_and_page_by_user_id()
    {
        var p = NewProject();
        var users = Enumerable.Range(0, 23).Select(i => $"user-{i:D2}").ToArray();
        await Store.TouchUsersAsync(p, ["not-synced"]);
        await Store.ApplySyncResultAsync(p, users[..8], new UserSyncUpdate(LeadKeyType.Cookie, 1, "{}", At));
        await Store.ApplySyncResultAsync(p, users[8..], new UserSyncUpdate(LeadKeyType.Email, 2, "{}", At));

        var seen = new List<string>();
        string? after = null;
        do
        {
            var page = await Store.GetSegmentAsync(p, UserSegment.MarketoLeadSynced, 5, after);
            Assert.Equal(23, page.Count);
            Assert.True(page.Users.Count <= 5);
            seen.AddRange(page.Users);
            after = page.Next;
        }
        while (after is not null);
        Assert.Equal(users, seen);

        var cookie = await Store.GetSegmentAsync(p, UserSegment.MarketoCookieSynced, 100, null);
        Assert.Equal(8, cookie.Count);
        Assert.Equal(users[..8], cookie.Users);
        Assert.Null(cookie.Next);

        var exact = await Store.GetSegmentAsync(p, UserSegment.MarketoCookieSynced, 8, null);
        Assert.Equal(8, exact.Users.Count);
        Assert.Null(exact.Next);
    }
}

public sealed class PostgresUserStoreContractTests(MigratedDatabaseFixture fixture)
    : UserStoreContractTests, IClassFixture<MigratedDatabaseFixture>, IDisposable
{
    private readonly NpgsqlDataSource _dataSource = NpgsqlDataSource.Create(fixture.Database.ConnectionString);

    protected override IUserStore Store => new PostgresUserStore(_dataSource);

    [Fact]
    public async Task Segment_and_lead_id_queries_can_use_their_indexes()
    {
        await using var connection = await _dataSource.OpenConnectionAsync();
        await using (var off = new NpgsqlCommand("SET enable_seqscan = off", connection)) await off.ExecuteNonQueryAsync();
        foreach (var (sql, index) in new[]
        {
            ("SELECT user_id FROM users WHERE project_id = 'p' AND lead_id IS NOT NULL AND synced_by = 'cookie' AND user_id > 'a' ORDER BY user_id LIMIT 10", "users_cookie_synced"),
            ("SELECT user_id FROM users WHERE project_id = 'p' AND lead_id IS NOT NULL AND user_id > 'a' ORDER BY user_id LIMIT 10", "users_lead_synced"),
            ("SELECT user_id FROM users WHERE project_id = 'p' AND lead_id = 42", "users_by_lead_id"),
        })
        {
            await using var explain = new NpgsqlCommand("EXPLAIN " + sql, connection);
            var plan = new List<string>();
            await using (var reader = await explain.ExecuteReaderAsync())
                while (await reader.ReadAsync()) plan.Add(reader.GetString(0));
            Assert.Contains(plan, line => line.Contains(index, StringComparison.Ordinal));
        }
    }

    public void Dispose() => _dataSource.Dispose();
}

public sealed class InMemoryUserStoreContractTests : UserStoreContractTests
{
    protected override IUserStore Store { get; } = new InMemoryUserStore();
}
