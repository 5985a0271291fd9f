using KarteMarketo.Grains.Flows.LeadSync;

namespace KarteMarketo.UnitTests.Sync;

public sealed class LeadKeyValuesTests
{
    [Theory]
    [InlineData("a@example.com", "a@example.com")]
    [InlineData("  Ann.Lee+tag@Example.CO.JP ", "ann.lee+tag@example.co.jp")]
    [InlineData("o'brien@mail.example.org", "o'brien@mail.example.org")]
    public void Emails_are_trimmed_and_lower_cased(string raw, string expected)
    {
        Assert.True(LeadKeyValues.TryNormalizeEmail(raw, out var email, out var error), error);
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
        Assert.False(LeadKeyValues.TryNormalizeEmail(raw, out var email, out var error));
        Assert.Null(email);
        Assert.NotNull(error);
    }

    [Fact]
    public void Too_long_email_is_refused()
    {
        var raw = new string('a', 64) + "@" + string.Join(".", Enumerable.Repeat(new string('b', 60), 4)) + ".com";
        Assert.False(LeadKeyValues.TryNormalizeEmail(raw, out _, out var error));
        Assert.Contains("longer", error);
    }

    [Theory]
    [InlineData("id:123-ABC-456&token:_mch-example.com-1700000000000-12345")]
    [InlineData(" id:561-HYG-937&token:_mch-marketo.com-97bf4361ef4433921a6da262e8df45a ")]
    public void Cookies_are_kept_whole(string raw)
    {
        Assert.True(LeadKeyValues.TryNormalizeCookie(raw, out var cookie, out var error), error);
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
        Assert.False(LeadKeyValues.TryNormalizeCookie(raw, out _, out var error));
        Assert.NotNull(error);
    }

    [Fact]
    public void Cookie_token_is_the_part_Marketo_returns()
    {
        Assert.Equal("_mch-example.com-1700000000000-12345",
            LeadKeyValues.CookieToken("id:123-ABC-456&token:_mch-example.com-1700000000000-12345"));
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
    }
}
