using KarteMarketo.Contracts;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Identity;

namespace KarteMarketo.UnitTests.Sync;

public sealed class LeadKeyPolicyTests
{
    [Theory]
    [InlineData("a@example.com", "a@example.com")]
    [InlineData("  Ann.Lee+tag@Example.CO.JP ", "ann.lee+tag@example.co.jp")]
    [InlineData("o'brien@mail.example.org", "o'brien@mail.example.org")]
    public void Emails_are_trimmed_and_lower_cased(string raw, string expected)
    {
        Assert.True(LeadKeyPolicy.TryNormalizeEmail(raw, out var email, out var error), error);
        Assert.Equal(expected, email);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("plainaddress")]
    [InlineData("@example.com")]
    [InlineData("a@")]
    [InlineData("a@b@example.com")]
    [InlineData("a@example")]
    [InlineData("a@example.c")]
    [InlineData("a@-example.com")]
    [InlineData("a..b@example.com")]
    [InlineData(".a@example.com")]
    [InlineData("a b@example.com")]
    [InlineData("a,b@example.com")]
    [InlineData("アン@example.com")]
    [InlineData("a@exämple.com")]
    [InlineData("a@example..com")]
    [InlineData("a@1.2.3.4")]
    public void Invalid_emails_are_refused(string raw)
    {
        Assert.False(LeadKeyPolicy.TryNormalizeEmail(raw, out var email, out var error));
        Assert.Null(email);
        Assert.NotNull(error);
    }

    [Fact]
    public void Too_long_email_is_refused()
    {
        var raw = new string('a', 64) + "@" + string.Join(".", Enumerable.Repeat(new string('b', 60), 4)) + ".com";
        Assert.False(LeadKeyPolicy.TryNormalizeEmail(raw, out _, out var error));
        Assert.Contains("longer", error);
    }

    [Theory]
    [InlineData("id:123-ABC-456&token:_mch-example.com-1700000000000-12345")]
    [InlineData(" id:561-HYG-937&token:_mch-marketo.com-97bf4361ef4433921a6da262e8df45a ")]
    public void Cookies_are_kept_whole(string raw)
    {
        Assert.True(LeadKeyPolicy.TryNormalizeCookie(raw, out var cookie, out var error), error);
        Assert.Equal(raw.Trim(), cookie);
    }

    [Theory]
    [InlineData("")]
    [InlineData("_mch-example.com-1700000000000-12345")]
    [InlineData("id:123-ABC-456")]
    [InlineData("id:123-ABC-456&token:")]
    [InlineData("id:123-ABC-456&token:_mch-a,b")]
    [InlineData("id:123-ABC-456&token:_mch a")]
    public void Malformed_cookies_are_refused(string raw)
    {
        Assert.False(LeadKeyPolicy.TryNormalizeCookie(raw, out _, out var error));
        Assert.NotNull(error);
    }

    [Fact]
    public void Cookie_token_is_the_part_Marketo_returns()
    {
        Assert.Equal("_mch-example.com-1700000000000-12345",
            LeadKeyPolicy.CookieToken("id:123-ABC-456&token:_mch-example.com-1700000000000-12345"));
    }
}

public sealed class LeadKeyGrainKeyTests
{
    [Theory]
    [InlineData("p1", KarteMarketo.Contracts.LeadKeyType.Email, "a@example.com")]
    [InlineData("p_2-x", KarteMarketo.Contracts.LeadKeyType.Cookie, "id:123-ABC-456&token:_mch-example.com-1-2")]
    [InlineData("p", KarteMarketo.Contracts.LeadKeyType.Email, "a/b@example.com")]
    public void Keys_round_trip(string project, KarteMarketo.Contracts.LeadKeyType type, string value)
    {
        var key = KarteMarketo.Contracts.GrainKeys.LeadKey(project, type, value);
        Assert.Equal((project, type, value), KarteMarketo.Contracts.GrainKeys.ParseLeadKey(key));
    }

    [Theory]
    [InlineData("p:x/email/a")]
    [InlineData("k:p/phone/123")]
    [InlineData("k:p")]
    public void Other_keys_are_refused(string key)
    {
        Assert.Throws<ArgumentException>(() => KarteMarketo.Contracts.GrainKeys.ParseLeadKey(key));
    }
}

public sealed class GrainKeyParseTests
{
    [Theory]
    [InlineData("p1", KarteMarketo.Contracts.LeadKeyType.Email)]
    [InlineData("a/b", KarteMarketo.Contracts.LeadKeyType.Cookie)]
    public void Every_builder_has_a_parser_that_undoes_it(string project, KarteMarketo.Contracts.LeadKeyType type)
    {
        Assert.Equal((project, type), KarteMarketo.Contracts.GrainKeys.ParseLookupBatcher(KarteMarketo.Contracts.GrainKeys.LookupBatcher(project, type)));
        Assert.Equal(project, KarteMarketo.Contracts.GrainKeys.ProjectIdOf(KarteMarketo.Contracts.GrainKeys.Project(project)));
        Assert.Equal(project, KarteMarketo.Contracts.GrainKeys.ParseSyncScheduler(KarteMarketo.Contracts.GrainKeys.SyncScheduler(project)));
        Assert.Equal(project, KarteMarketo.Contracts.GrainKeys.ParseQuota(KarteMarketo.Contracts.GrainKeys.Quota(project)));
        Assert.Equal(project, KarteMarketo.Contracts.GrainKeys.ParseLeadBacklog(KarteMarketo.Contracts.GrainKeys.LeadBacklog(project)));
        Assert.Equal(project, KarteMarketo.Contracts.GrainKeys.ParseOutboxDispatcher(KarteMarketo.Contracts.GrainKeys.ActivityDispatcher(project)));
        Assert.Equal(project, KarteMarketo.Contracts.GrainKeys.ParseOutboxDispatcher(KarteMarketo.Contracts.GrainKeys.LeadUpsertDispatcher(project)));
    }

    [Theory]
    [InlineData("k:p/email/a")]
    [InlineData("b:p/phone")]
    public void A_key_of_another_kind_is_refused(string key)
    {
        Assert.Throws<ArgumentException>(() => KarteMarketo.Contracts.GrainKeys.ParseLookupBatcher(key));
        Assert.Throws<ArgumentException>(() => KarteMarketo.Contracts.GrainKeys.ParseQuota(key));
        Assert.Throws<ArgumentException>(() => KarteMarketo.Contracts.GrainKeys.ParseLeadBacklog(key));
    }

}

/// <summary><see cref="LeadKeyPolicy"/>'s precedence rules: email over cookie, wherever both are known.</summary>
public sealed class LeadKeyPrecedenceTests
{

    [Fact]
    public void An_identify_with_an_email_looks_the_email_up_with_the_cookie_as_fallback_and_only_links_the_cookie()
    {
        Assert.Equal(new IdentifyKeys(LeadKeyType.Email, "a@example.com", "id:1&token:t", "id:1&token:t"),
            LeadKeyPolicy.ForIdentify("a@example.com", "id:1&token:t"));
        Assert.Equal(new IdentifyKeys(LeadKeyType.Email, "a@example.com", null, null), LeadKeyPolicy.ForIdentify("a@example.com", null));
        Assert.Equal(new IdentifyKeys(LeadKeyType.Cookie, "id:1&token:t", null, null), LeadKeyPolicy.ForIdentify(null, "id:1&token:t"));
        Assert.Throws<ArgumentException>(() => LeadKeyPolicy.ForIdentify(null, null));
    }

    [Theory]
    [InlineData(false, null, CookieFallback.HandOver)]
    [InlineData(false, SyncResult.Synced, CookieFallback.HandOver)]
    [InlineData(true, SyncResult.NotFound, CookieFallback.HandOver)]
    [InlineData(true, SyncResult.Pending, CookieFallback.WaitForAnswer)]
    [InlineData(true, SyncResult.Synced, CookieFallback.NotNeeded)]
    [InlineData(true, SyncResult.Deferred, CookieFallback.NotNeeded)]
    [InlineData(true, SyncResult.Failed, CookieFallback.NotNeeded)]
    [InlineData(true, null, CookieFallback.NotNeeded)]
    public void The_cookie_is_tried_only_where_the_email_cannot_find_the_lead(bool emailLookedUp, SyncResult? last, CookieFallback expected) =>
        Assert.Equal(expected, LeadKeyPolicy.CookieFallbackNow(emailLookedUp, last));

    [Fact]
    public void Only_email_keys_hand_over_and_only_the_latest_email_counts()
    {
        Assert.True(LeadKeyPolicy.HandsOverOnNotFound(LeadKeyType.Email));
        Assert.False(LeadKeyPolicy.HandsOverOnNotFound(LeadKeyType.Cookie));
        Assert.True(LeadKeyPolicy.LatestKeyWins(LeadKeyType.Email));
        Assert.False(LeadKeyPolicy.LatestKeyWins(LeadKeyType.Cookie));
    }

    [Theory]
    [InlineData(null, null, LeadKeyType.Cookie, true)]
    [InlineData(LeadKeyType.Cookie, 5L, LeadKeyType.Cookie, true)]
    [InlineData(LeadKeyType.Cookie, 5L, LeadKeyType.Email, true)]
    [InlineData(LeadKeyType.Email, 5L, LeadKeyType.Email, true)]
    [InlineData(LeadKeyType.Email, 5L, LeadKeyType.Cookie, false)]
    [InlineData(LeadKeyType.Email, null, LeadKeyType.Cookie, true)]
    public void A_lead_found_by_cookie_never_replaces_one_found_by_email(LeadKeyType? current, long? leadId, LeadKeyType incoming, bool expected) =>
        Assert.Equal(expected, LeadKeyPolicy.MayReplaceLead(current, leadId, incoming));

    private static readonly UserKey Email = new(LeadKeyType.Email, "a@example.com");
    private static readonly UserKey Cookie = new(LeadKeyType.Cookie, "id:1&token:t");

    private static LeadKeyView View(SyncResult? result) => new([], null, result, null, null, null);

    [Theory]
    [InlineData(SyncResult.Synced, SyncResult.Synced, "email", false)]
    [InlineData(SyncResult.Deferred, SyncResult.Synced, "email", false)]
    [InlineData(SyncResult.NotFound, SyncResult.Synced, "cookie", true)]
    [InlineData(null, SyncResult.Synced, "cookie", true)]
    [InlineData(SyncResult.NotFound, null, "email", true)]
    public async Task The_email_key_speaks_for_a_user_unless_it_found_nothing_and_the_cookie_has_an_outcome(
        SyncResult? emailResult, SyncResult? cookieResult, string expected, bool cookieAsked)
    {
        var asked = new List<UserKey>();
        var chosen = await LeadKeyPolicy.KeySpeakingForUserAsync([Cookie, Email], key =>
        {
            asked.Add(key);
            return Task.FromResult(View(key == Email ? emailResult : cookieResult));
        });
        Assert.Equal(expected, chosen!.Value.Key.Type.ToKeyword());
        Assert.Equal(cookieAsked ? [Email, Cookie] : new[] { Email }, asked);
    }

    [Fact]
    public async Task A_user_with_only_a_cookie_or_no_key_is_spoken_for_by_the_cookie_or_nothing()
    {
        var onlyCookie = await LeadKeyPolicy.KeySpeakingForUserAsync([Cookie], _ => Task.FromResult(View(null)));
        Assert.Equal(Cookie, onlyCookie!.Value.Key);
        Assert.Null(await LeadKeyPolicy.KeySpeakingForUserAsync([], _ => throw new InvalidOperationException("no key to ask")));
    }

    [Fact]
    public void A_webhook_looks_for_users_by_email_then_lead_id_then_cookie()
    {
        Assert.Equal([WebhookMatch.ByKey(Email), WebhookMatch.ByLeadId(7), WebhookMatch.ByKey(Cookie)],
            LeadKeyPolicy.WebhookMatchOrder(Email.Value, 7, Cookie.Value));
        Assert.Equal([WebhookMatch.ByLeadId(7)], LeadKeyPolicy.WebhookMatchOrder(null, 7, null));
        Assert.Empty(LeadKeyPolicy.WebhookMatchOrder(null, null, null));
    }

    [Fact]
    public void An_activity_resolves_by_its_email_then_the_users_email_then_the_users_cookie_then_its_cookie()
    {
        var other = new UserKey(LeadKeyType.Cookie, "id:2&token:u");
        Assert.Equal(new UserKey(LeadKeyType.Email, "row@example.com"), LeadKeyPolicy.KeyForActivity("row@example.com", [Cookie, Email], other.Value));
        Assert.Equal(Email, LeadKeyPolicy.KeyForActivity(null, [Cookie, Email], other.Value));
        Assert.Equal(Cookie, LeadKeyPolicy.KeyForActivity("", [Cookie], other.Value));
        Assert.Equal(other, LeadKeyPolicy.KeyForActivity(null, [], other.Value));
        Assert.Null(LeadKeyPolicy.KeyForActivity(null, [], null));
    }
}
