using System.Text.Json.Nodes;
using KarteMarketo.Contracts.Projects;
using KarteMarketo.Grains.Flows.LeadSync;

namespace KarteMarketo.UnitTests.Sync;

public sealed class UserInfoBuilderTests
{
    private static readonly DateTimeOffset SyncedAt = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    private static MarketoSettings Marketo(string? privateKey = null, string[]? excluded = null, string[]? custom = null) =>
        new("client", "secret", "https://123-ABC-456.mktorest.com/rest", "https://123-ABC-456.mktorest.com/identity",
            privateKey, custom ?? [], excluded ?? [], "America/Chicago");

    private static JsonObject Lead() => new()
    {
        ["id"] = 318581,
        ["email"] = "Ann@Example.com",
        ["firstName"] = "Ann",
        ["lastName"] = null,
        ["phone"] = "+81-3-0000-0000",
        ["dateOfBirth"] = "1990-04-01",
        ["updatedAt"] = "2026-11-20T10:00:00Z",
        ["myScore__c"] = 42,
        ["optIn__c"] = "yes",
        ["badDate__c"] = "someday",
    };

    [Fact]
    public void Marketo_holds_non_null_fields_minus_excluded_plus_sync_date()
    {
        var built = UserInfoBuilder.Build(Lead(), Marketo(excluded: ["phone", "ID"]), [], "ann@example.com", SyncedAt);
        var marketo = built.Identify["marketo"]!.AsObject();

        Assert.Equal(318581, (int)marketo["id"]!);                     // id is never excluded
        Assert.Equal("Ann", (string)marketo["firstName"]!);
        Assert.Equal(42, (int)marketo["myScore__c"]!);
        Assert.False(marketo.ContainsKey("lastName"));                   // null left out
        Assert.False(marketo.ContainsKey("phone"));                      // excluded
        Assert.Equal(SyncedAt.ToUnixTimeSeconds(), (long)marketo["_karte_last_sync_date"]!);
        Assert.Empty(built.Errors);
        Assert.False(built.Identify.ContainsKey("marketo_hash"));
    }

    [Fact]
    public void Mappings_are_converted_and_set_the_subscription_field()
    {
        FieldMapping[] mappings =
        [
            new("email", FieldConversions.None, "email", "subscription"),
            new("dateOfBirth", FieldConversions.StringToDate, "birth_date", null),
            new("optIn__c", FieldConversions.ToBoolean, "opt_in", null),
            new("badDate__c", FieldConversions.StringToDate, "bad_date", "bad_subscription"),
            new("missing", FieldConversions.None, "missing", "missing_subscription"),
        ];
        var built = UserInfoBuilder.Build(Lead(), Marketo(), mappings, null, SyncedAt);
        var identify = built.Identify;

        Assert.Equal("Ann@Example.com", (string)identify["email"]!);
        Assert.True((bool)identify["subscription"]!);
        Assert.Equal("1990-04-01T00:00:00+00:00", (string)identify["birth_date"]!);
        Assert.True((bool)identify["opt_in"]!);
        Assert.False(identify.ContainsKey("bad_date"));                  // did not convert: not written
        Assert.False(identify.ContainsKey("bad_subscription"));
        Assert.False(identify.ContainsKey("missing"));                   // no value: nothing, and no error
        Assert.False(identify.ContainsKey("missing_subscription"));
        var error = Assert.Single(built.Errors);
        Assert.Contains("badDate__c", error);
        Assert.Contains("someday", error);
    }

    [Fact]
    public void A_mapping_cannot_overwrite_marketo_or_the_hash()
    {
        var built = UserInfoBuilder.Build(Lead(), Marketo(), [new("firstName", FieldConversions.None, "marketo", null)], null, SyncedAt);
        Assert.IsType<JsonObject>(built.Identify["marketo"]);
        Assert.Single(built.Errors);
    }

    [Fact]
    public void Munchkin_hash_is_lowercase_hex_sha1_of_key_then_email()
    {
        // Known vector: SHA-1("abc") (FIPS 180 test vector).
        Assert.Equal("a9993e364706816aba3e25717850c26c9cd0d89d", UserInfoBuilder.MunchkinHash("a", "bc"));
        // And SHA-1 of "The quick brown fox jumps over the lazy dog".
        Assert.Equal("2fd4e1c67a2d28fced849ee1bb76e7391b93eb12",
            UserInfoBuilder.MunchkinHash("The quick brown fox jumps over the lazy ", "dog"));
    }

    [Fact]
    public void Hash_uses_the_sites_email_as_sent_in_identify_not_the_casing_marketo_stored()
    {
        var built = UserInfoBuilder.Build(Lead(), Marketo(privateKey: "secretkey"), [], "ann@example.com", SyncedAt);
        Assert.Equal(UserInfoBuilder.MunchkinHash("secretkey", "ann@example.com"), (string)built.Identify["marketo_hash"]!);
    }

    [Fact]
    public void Hash_of_a_lead_found_by_cookie_uses_the_leads_email_normalised()
    {
        var built = UserInfoBuilder.Build(Lead(), Marketo(privateKey: "k"), [], null, SyncedAt);
        Assert.Equal(UserInfoBuilder.MunchkinHash("k", "ann@example.com"), (string)built.Identify["marketo_hash"]!);
    }
}
