using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.MarketoSandbox;
using static KarteMarketo.FunctionalTests.Sync.SyncTestKit;

namespace KarteMarketo.FunctionalTests.Sync;

/// <summary>What user info holds: lead fields (excluded, custom, unknown custom), mapped and converted fields, the hash.</summary>
public sealed class UserInfoFieldsTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    private const string PrivateKey = "munchkin-private-key-123";

    private static Action<JsonObject> FieldSettings => Settings(batchDelayMs: 500, more: settings =>
    {
        var marketo = settings["marketo"]!.AsObject();
        marketo["customFields"] = new JsonArray("myScore__c", "optIn__c", "visitSecs__c", "visitMs__c", "localTime__c", "badDate__c", "ghost__c");
        marketo["excludedFields"] = new JsonArray("phone", "lastName");
        marketo["munchkinPrivateKey"] = PrivateKey;
        marketo["timeZone"] = "Asia/Tokyo";
        settings["fieldMappings"] = new JsonArray(
            Map("email", "none", "email", "subscription"),
            Map("dateOfBirth", "stringToDate", "birth_date"),
            Map("optIn__c", "toBoolean", "opt_in"),
            Map("visitSecs__c", "unixSecondsToDate", "visited_at"),
            Map("visitMs__c", "unixMillisecondsToDate", "visited_at_ms"),
            Map("localTime__c", "stringToDate", "local_time"),
            Map("badDate__c", "stringToDate", "bad_date", "bad_subscription"),
            Map("myScore__c", "toBoolean", "score_flag"));
    });

    private static JsonObject Map(string marketoField, string convert, string syncField, string? subscriptionField = null)
    {
        var mapping = new JsonObject { ["marketoField"] = marketoField, ["convert"] = convert, ["syncField"] = syncField };
        if (subscriptionField is not null) mapping["subscriptionField"] = subscriptionField;
        return mapping;
    }

    private static void Schema(SandboxState s)
    {
        s.AddCustomField("myScore__c", "integer");
        s.AddCustomField("optIn__c", "string");
        s.AddCustomField("visitSecs__c", "integer");
        s.AddCustomField("visitMs__c", "string");
        s.AddCustomField("localTime__c", "string");
        s.AddCustomField("badDate__c", "string");
        // ghost__c deliberately does not exist in Marketo.
    }

    [Fact]
    public async Task Lead_fields_mappings_conversions_unknown_custom_field_and_hash()
    {
        long leadId = 0;
        await using var kit = await StartAsync(app, "fields", FieldSettings, seed: s =>
        {
            Schema(s);
            leadId = s.SeedLead("Ann.Lee@Example.com",
                ("firstName", "Ann"), ("lastName", "Lee"), ("phone", "+81-3-0000-0000"), ("title", null),
                ("dateOfBirth", "1990-04-01"), ("myScore__c", 7), ("optIn__c", "yes"), ("visitSecs__c", 1795000000),
                ("visitMs__c", "1795000000123"), ("localTime__c", "2026-11-20 09:30:00"), ("badDate__c", "someday"),
                ("mktoName", "Ann Lee"), ("mktoIsPartner", true), ("mktoIsCustomer", false));
        });

        await kit.SendAsync([Identify("ann", " Ann.LEE@example.com ")]);
        var syncedAt = app.Time.GetUtcNow();
        await kit.AdvanceUntilAsync(TimeSpan.FromMilliseconds(500), async () => LeadIdOf(await kit.GetUserAsync("ann")) is not null, "ann synced");

        var user = (await kit.GetUserAsync("ann"))!;
        var identify = user["identify"]!.AsObject();
        var marketo = identify["marketo"]!.AsObject();

        Assert.Equal(leadId, (long)marketo["id"]!);
        Assert.Equal("Ann", (string?)marketo["firstName"]);
        Assert.Equal(7, (int)marketo["myScore__c"]!);                        // custom field
        Assert.Equal("yes", (string?)marketo["optIn__c"]);
        Assert.False(marketo.ContainsKey("phone"));                            // excluded
        Assert.False(marketo.ContainsKey("lastName"));                         // excluded
        Assert.False(marketo.ContainsKey("title"));                            // null
        Assert.False(marketo.ContainsKey("ghost__c"));                         // unknown to Marketo
        Assert.True((long)marketo["_karte_last_sync_date"]! >= syncedAt.ToUnixTimeSeconds());

        Assert.Equal("Ann.Lee@Example.com", (string?)identify["email"]);
        Assert.True((bool)identify["subscription"]!);
        Assert.Equal("1990-04-01T00:00:00+00:00", (string?)identify["birth_date"]);
        Assert.True((bool)identify["opt_in"]!);
        Assert.Equal("2026-11-18T11:06:40+00:00", (string?)identify["visited_at"]);
        Assert.Equal("2026-11-18T11:06:40.123+00:00", (string?)identify["visited_at_ms"]);
        Assert.Equal("2026-11-20T00:30:00+00:00", (string?)identify["local_time"]);   // no offset: read in Asia/Tokyo
        Assert.False(identify.ContainsKey("bad_date"));                        // did not convert: not written
        Assert.False(identify.ContainsKey("bad_subscription"));
        Assert.False(identify.ContainsKey("score_flag"));                      // 7 is not a boolean

        // KARTE's sample fields, where the instance has them (describe lists them).
        Assert.Equal("Ann Lee", (string?)marketo["mktoName"]);
        Assert.True((bool)marketo["mktoIsPartner"]!);
        Assert.False((bool)marketo["mktoIsCustomer"]!);

        // Independent SHA-1 of private key + the site's email as sent in identify (normalised), not Marketo's casing.
        var expectedHash = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(PrivateKey + "ann.lee@example.com")));
        Assert.Equal(expectedHash, (string?)identify["marketo_hash"]);

        var lastError = (string?)user["sync"]!["lastError"];
        Assert.NotNull(lastError);
        Assert.Contains("ghost__c", lastError);
        Assert.Contains("badDate__c", lastError);
        Assert.Contains("myScore__c", lastError);
        Assert.Equal("synced", LastResultOf(user));

        // One call refused with 1006, then one without the unknown field; later lookups leave it out from the start.
        Assert.Equal(1, kit.Sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads, "1006"));
        Assert.Equal(1, kit.Sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads, SandboxCallCodes.Success));
        kit.Sandbox.State.SeedLead("bob@example.com", ("firstName", "Bob"));
        await kit.SendAsync([Identify("bob", "bob@example.com")]);
        await kit.AdvanceUntilAsync(TimeSpan.FromMilliseconds(500), async () => LeadIdOf(await kit.GetUserAsync("bob")) is not null, "bob synced");
        Assert.Equal(1, kit.Sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads, "1006"));
        Assert.Contains("ghost__c", (string?)(await kit.GetUserAsync("bob"))!["sync"]!["lastError"]);
        Assert.Equal(1, kit.Sandbox.Counters.CallsTo(SandboxEndpointNames.DescribeLeads));   // learned once
    }

    [Fact]
    public async Task No_private_key_means_no_hash_and_user_never_seen_is_404()
    {
        await using var kit = await StartAsync(app, "fields-nohash", Settings(batchDelayMs: 500),
            seed: s => s.SeedLead("plain@example.com", ("firstName", "Plain")));
        await kit.SendAsync([Identify("plain", "plain@example.com")]);
        await kit.AdvanceUntilAsync(TimeSpan.FromMilliseconds(500), async () => LeadIdOf(await kit.GetUserAsync("plain")) is not null, "plain synced");
        var identify = (await kit.GetUserAsync("plain"))!["identify"]!.AsObject();
        Assert.False(identify.ContainsKey("marketo_hash"));
        Assert.Null(await kit.GetUserAsync("never-seen"));
    }
}
