using System.Text.Json;
using System.Text.Json.Nodes;
using KarteMarketo.Contracts.Projects;
using KarteMarketo.Server.FrontDoor;
using KarteMarketo.Server.Settings;

namespace KarteMarketo.UnitTests.FrontDoor;

public sealed class SettingsValidatorTests
{
    private static readonly SettingsValidator Strict = new(new SettingsValidationOptions(AllowInsecureEndpoints: false));
    private static readonly SettingsValidator Lenient = new(new SettingsValidationOptions(AllowInsecureEndpoints: true));

    private static JsonObject Minimal() => new()
    {
        ["marketo"] = new JsonObject
        {
            ["clientId"] = "client-1",
            ["clientSecret"] = "secret-0123456789",
            ["endpoint"] = "https://123-ABC-456.mktorest.com/rest",
            ["identity"] = "https://123-ABC-456.mktorest.com/identity",
        },
    };

    private static SettingsValidationResult Validate(JsonObject body, SettingsValidator? validator = null)
    {
        var bound = JsonBody.Bind<SettingsRequest>(body);
        Assert.True(bound.IsOk, "the test body should bind");
        return (validator ?? Strict).Validate(bound.Value);
    }

    [Fact]
    public void Minimal_settings_get_every_default_from_the_contract()
    {
        var result = Validate(Minimal());

        Assert.True(result.IsValid, string.Join("; ", result.Errors.Select(e => $"{e.Key}: {string.Join(",", e.Value)}")));
        var s = result.Settings!;
        Assert.Equal("client-1", s.Marketo.ClientId);
        Assert.Null(s.Marketo.MunchkinPrivateKey);
        Assert.Empty(s.Marketo.CustomFields);
        Assert.Empty(s.Marketo.ExcludedFields);
        Assert.Equal("America/Chicago", s.Marketo.TimeZone);
        Assert.Equal(new PeriodicSyncSettings(true, 30), s.PeriodicSync);
        Assert.True(s.RealtimeSync.Enabled);
        Assert.Equal(["email", "cookie"], s.RealtimeSync.Keys);
        Assert.Equal(86_400, s.RealtimeSync.ResyncWindowSeconds);
        Assert.Equal(1_000, s.RealtimeSync.BatchDelayMilliseconds);
        Assert.Equal(new QuotaSettings(50_000, 10, 90, 8), s.Quota);
        Assert.Empty(s.FieldMappings);
        Assert.Empty(s.ActivityMappings);
    }

    [Fact]
    public void The_full_example_of_the_contract_is_taken_as_written()
    {
        var body = JsonNode.Parse("""
        {
          "marketo": {
            "clientId": "required", "clientSecret": "required-secret",
            "endpoint": "https://123-ABC-456.mktorest.com/rest", "identity": "https://123-ABC-456.mktorest.com/identity",
            "munchkinPrivateKey": null, "customFields": ["myScore__c"], "excludedFields": ["phone"], "timeZone": "America/Chicago"
          },
          "periodicSync": { "enabled": true, "intervalMinutes": 30 },
          "realtimeSync": { "enabled": true, "keys": ["email", "cookie"], "resyncWindowSeconds": 86400, "batchDelayMilliseconds": 1000 },
          "quota": { "dailyLimit": 50000, "reservePercent": 10, "callsPer20Seconds": 90, "maxConcurrentCalls": 8 },
          "fieldMappings": [
            { "marketoField": "email", "convert": "none", "syncField": "email", "subscriptionField": "subscription" },
            { "marketoField": "birthday", "convert": "stringToDate", "syncField": "birth_date" }
          ],
          "activityMappings": [
            { "event": "purchase", "activityTypeId": 100001, "primaryAttribute": "item_name", "attributes": { "price": "amount" } }
          ]
        }
        """)!.AsObject();

        var result = Validate(body);

        Assert.True(result.IsValid);
        var s = result.Settings!;
        Assert.Equal(["myScore__c"], s.Marketo.CustomFields);
        Assert.Equal(["phone"], s.Marketo.ExcludedFields);
        Assert.Equal(new FieldMapping("email", "none", "email", "subscription"), s.FieldMappings[0]);
        Assert.Equal(new FieldMapping("birthday", "stringToDate", "birth_date", null), s.FieldMappings[1]);
        var activity = Assert.Single(s.ActivityMappings);
        Assert.Equal(("purchase", 100001, "item_name"), (activity.Event, activity.ActivityTypeId, activity.PrimaryAttribute));
        Assert.Equal("amount", activity.Attributes["price"]);
    }

    /// <summary>One row per rule of API.md: the change to the minimal body, and the JSON path that must be named.</summary>
    public static TheoryData<string, string, string> Rules() => new()
    {
        // required
        { "clientId missing", """{"marketo":{"clientId":null}}""", "marketo.clientId" },
        { "clientSecret missing", """{"marketo":{"clientSecret":null}}""", "marketo.clientSecret" },
        { "endpoint missing", """{"marketo":{"endpoint":null}}""", "marketo.endpoint" },
        { "identity missing", """{"marketo":{"identity":null}}""", "marketo.identity" },
        { "clientId blank", """{"marketo":{"clientId":"   "}}""", "marketo.clientId" },
        { "clientSecret control chars", """{"marketo":{"clientSecret":"abc\u0000def"}}""", "marketo.clientSecret" },
        { "clientId too long", "{\"marketo\":{\"clientId\":\"" + new string('x', 257) + "\"}}", "marketo.clientId" },
        // endpoints
        { "endpoint http", """{"marketo":{"endpoint":"http://123-ABC-456.mktorest.com/rest"}}""", "marketo.endpoint" },
        { "identity http", """{"marketo":{"identity":"http://123-ABC-456.mktorest.com/identity"}}""", "marketo.identity" },
        { "endpoint relative", """{"marketo":{"endpoint":"/rest"}}""", "marketo.endpoint" },
        { "endpoint ftp", """{"marketo":{"endpoint":"ftp://123-ABC-456.mktorest.com/rest"}}""", "marketo.endpoint" },
        { "endpoint not /rest", """{"marketo":{"endpoint":"https://123-ABC-456.mktorest.com/identity"}}""", "marketo.endpoint" },
        { "endpoint with credentials", """{"marketo":{"endpoint":"https://u:p@123-ABC-456.mktorest.com/rest"}}""", "marketo.endpoint" },
        { "identity with query", """{"marketo":{"identity":"https://123-ABC-456.mktorest.com/identity?x=1"}}""", "marketo.identity" },
        // marketo lists and zone
        { "custom field with comma", """{"marketo":{"customFields":["a,b"]}}""", "marketo.customFields[0]" },
        { "excluded field null", """{"marketo":{"excludedFields":["phone",null]}}""", "marketo.excludedFields[1]" },
        { "time zone unknown", """{"marketo":{"timeZone":"Mars/Olympus"}}""", "marketo.timeZone" },
        { "time zone windows name", """{"marketo":{"timeZone":"Central Standard Time"}}""", "marketo.timeZone" },
        { "munchkin key blank", """{"marketo":{"munchkinPrivateKey":""}}""", "marketo.munchkinPrivateKey" },
        // ranges
        { "intervalMinutes 0", """{"periodicSync":{"intervalMinutes":0}}""", "periodicSync.intervalMinutes" },
        { "resyncWindowSeconds 0", """{"realtimeSync":{"resyncWindowSeconds":0}}""", "realtimeSync.resyncWindowSeconds" },
        { "batchDelayMilliseconds -1", """{"realtimeSync":{"batchDelayMilliseconds":-1}}""", "realtimeSync.batchDelayMilliseconds" },
        { "batchDelayMilliseconds 10001", """{"realtimeSync":{"batchDelayMilliseconds":10001}}""", "realtimeSync.batchDelayMilliseconds" },
        { "realtime key unknown", """{"realtimeSync":{"keys":["email","phone"]}}""", "realtimeSync.keys[1]" },
        { "realtime key twice", """{"realtimeSync":{"keys":["email","email"]}}""", "realtimeSync.keys[1]" },
        { "dailyLimit 0", """{"quota":{"dailyLimit":0}}""", "quota.dailyLimit" },
        { "reservePercent -1", """{"quota":{"reservePercent":-1}}""", "quota.reservePercent" },
        { "reservePercent 91", """{"quota":{"reservePercent":91}}""", "quota.reservePercent" },
        { "callsPer20Seconds 0", """{"quota":{"callsPer20Seconds":0}}""", "quota.callsPer20Seconds" },
        { "callsPer20Seconds 101", """{"quota":{"callsPer20Seconds":101}}""", "quota.callsPer20Seconds" },
        { "maxConcurrentCalls 0", """{"quota":{"maxConcurrentCalls":0}}""", "quota.maxConcurrentCalls" },
        { "maxConcurrentCalls 11", """{"quota":{"maxConcurrentCalls":11}}""", "quota.maxConcurrentCalls" },
        // mappings
        { "convert unknown", """{"fieldMappings":[{"marketoField":"a","convert":"none","syncField":"a"},{"marketoField":"b","convert":"none","syncField":"b"},{"marketoField":"c","convert":"toDate","syncField":"c"}]}""", "fieldMappings[2].convert" },
        { "marketoField missing", """{"fieldMappings":[{"syncField":"a"}]}""", "fieldMappings[0].marketoField" },
        { "syncField missing", """{"fieldMappings":[{"marketoField":"a"}]}""", "fieldMappings[0].syncField" },
        { "syncField reserved", """{"fieldMappings":[{"marketoField":"a","syncField":"marketo"}]}""", "fieldMappings[0].syncField" },
        { "field mapping null", """{"fieldMappings":[null]}""", "fieldMappings[0]" },
        { "activity event missing", """{"activityMappings":[{"activityTypeId":1,"primaryAttribute":"x"}]}""", "activityMappings[0].event" },
        { "activity type id missing", """{"activityMappings":[{"event":"e","primaryAttribute":"x"}]}""", "activityMappings[0].activityTypeId" },
        { "activity type id 0", """{"activityMappings":[{"event":"e","activityTypeId":0,"primaryAttribute":"x"}]}""", "activityMappings[0].activityTypeId" },
        { "primaryAttribute missing", """{"activityMappings":[{"event":"e","activityTypeId":1}]}""", "activityMappings[0].primaryAttribute" },
        { "attribute value blank", """{"activityMappings":[{"event":"e","activityTypeId":1,"primaryAttribute":"x","attributes":{"price":""}}]}""", "activityMappings[0].attributes.price" },
        { "event mapped twice", """{"activityMappings":[{"event":"e","activityTypeId":1,"primaryAttribute":"x"},{"event":"e","activityTypeId":2,"primaryAttribute":"y"}]}""", "activityMappings[1].event" },
        // unknown members
        { "unknown top-level", """{"periodicSinc":{"enabled":true}}""", "periodicSinc" },
        { "unknown nested", """{"quota":{"dailyLimits":5}}""", "quota.dailyLimits" },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public void Each_rule_names_its_field(string rule, string change, string path)
    {
        var body = Minimal();
        Merge(body, JsonNode.Parse(change)!.AsObject());

        var result = Validate(body);

        Assert.False(result.IsValid, rule);
        Assert.Null(result.Settings);
        Assert.True(result.Errors.ContainsKey(path),
            $"{rule}: expected an error at {path}, got {string.Join(", ", result.Errors.Keys)}");
    }

    [Fact]
    public void Every_bad_field_is_reported_not_only_the_first()
    {
        var body = JsonNode.Parse("""
        { "marketo": { "clientId": "", "endpoint": "http://x/rest", "identity": "https://x/identity" },
          "quota": { "callsPer20Seconds": 500, "maxConcurrentCalls": 0 },
          "fieldMappings": [ { "marketoField": "a", "convert": "nope", "syncField": "a" } ] }
        """)!.AsObject();

        var result = Validate(body);

        Assert.Equal(
            new[] { "fieldMappings[0].convert", "marketo.clientId", "marketo.clientSecret", "marketo.endpoint", "quota.callsPer20Seconds", "quota.maxConcurrentCalls" },
            result.Errors.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Missing_marketo_section_is_required()
    {
        var result = Validate(new JsonObject { ["quota"] = new JsonObject() });
        Assert.Equal(["is required"], result.Errors["marketo"]);
    }

    [Fact]
    public void Plain_http_is_accepted_only_where_configured()
    {
        var body = Minimal();
        body["marketo"]!["endpoint"] = "http://127.0.0.1:9/rest";
        body["marketo"]!["identity"] = "http://127.0.0.1:9/identity";

        Assert.False(Validate(body, Strict).IsValid);
        var lenient = Validate(body, Lenient);
        Assert.True(lenient.IsValid);
        Assert.Equal("http://127.0.0.1:9/rest", lenient.Settings!.Marketo.Endpoint);
    }

    [Fact]
    public void Boundaries_are_inclusive()
    {
        var body = Minimal();
        body["periodicSync"] = new JsonObject { ["intervalMinutes"] = 1 };
        body["realtimeSync"] = new JsonObject { ["resyncWindowSeconds"] = 1, ["batchDelayMilliseconds"] = 10_000, ["keys"] = new JsonArray() };
        body["quota"] = new JsonObject { ["dailyLimit"] = 1, ["reservePercent"] = 90, ["callsPer20Seconds"] = 100, ["maxConcurrentCalls"] = 10 };

        var result = Validate(body);

        Assert.True(result.IsValid);
        Assert.Equal(new QuotaSettings(1, 90, 100, 10), result.Settings!.Quota);
        Assert.Empty(result.Settings.RealtimeSync.Keys);
    }

    [Fact]
    public void A_read_copy_with_response_members_can_be_sent_back()
    {
        var body = Minimal();
        body["apiKey"] = "****abcd";
        body["webhookSecret"] = "****efgh";
        body["projectId"] = "p1";
        body["version"] = 3;

        Assert.True(Validate(body).IsValid);
    }

    [Fact]
    public void A_trailing_slash_on_endpoints_is_dropped()
    {
        var body = Minimal();
        body["marketo"]!["endpoint"] = "https://123-ABC-456.mktorest.com/rest/";
        Assert.Equal("https://123-ABC-456.mktorest.com/rest", Validate(body).Settings!.Marketo.Endpoint);
    }

    [Fact]
    public void Wrong_types_are_reported_by_path_when_binding()
    {
        var body = Minimal();
        body["quota"] = new JsonObject { ["callsPer20Seconds"] = "ninety" };

        var bound = JsonBody.Bind<SettingsRequest>(body);

        Assert.False(bound.IsOk);
        var problem = Assert.IsType<Microsoft.AspNetCore.Http.HttpValidationProblemDetails>(bound.Problem.ProblemDetails);
        Assert.Equal(["must be an integer"], problem.Errors["quota.callsPer20Seconds"]);
    }

    [Theory]
    [InlineData("""{"marketo":{"customFields":"a"}}""", "marketo.customFields", "must be an array")]
    [InlineData("""{"periodicSync":{"enabled":"yes"}}""", "periodicSync.enabled", "must be true or false")]
    [InlineData("""{"marketo":{"clientId":42}}""", "marketo.clientId", "must be a string")]
    [InlineData("""{"fieldMappings":[{"marketoField":"a","syncField":"a"},{"marketoField":"b","convert":7}]}""", "fieldMappings[1].convert", "must be a string")]
    [InlineData("""{"quota":{"dailyLimit":1.5}}""", "quota.dailyLimit", "must be an integer")]
    [InlineData("""{"quota":{"dailyLimit":99999999999}}""", "quota.dailyLimit", "must be an integer")]
    [InlineData("""{"quota":[]}""", "quota", "must be an object")]
    [InlineData("""{"activityMappings":[{"attributes":{"price":5}}]}""", "activityMappings[0].attributes.price", "must be a string")]
    public void Type_errors_name_the_path_and_the_expected_type(string change, string path, string message)
    {
        var body = Minimal();
        Merge(body, JsonNode.Parse(change)!.AsObject());

        var bound = JsonBody.Bind<SettingsRequest>(body);

        var problem = Assert.IsType<Microsoft.AspNetCore.Http.HttpValidationProblemDetails>(bound.Problem!.ProblemDetails);
        Assert.Equal(400, problem.Status);
        Assert.Equal([message], problem.Errors[path]);
    }

    [Fact]
    public void Stored_settings_survive_the_grain_storage_json_round_trip()
    {
        var settings = Validate(JsonNode.Parse("""
        { "marketo": { "clientId": "c", "clientSecret": "s-0123456789", "endpoint": "https://a.mktorest.com/rest", "identity": "https://a.mktorest.com/identity",
                       "customFields": ["x__c"], "munchkinPrivateKey": "mk-0123456789" },
          "fieldMappings": [ { "marketoField": "birthday", "convert": "stringToDate", "syncField": "birth_date" } ],
          "activityMappings": [ { "event": "purchase", "activityTypeId": 100001, "primaryAttribute": "item_name", "attributes": { "price": "amount" } } ] }
        """)!.AsObject()).Settings!;
        var state = new KarteMarketo.Grains.Projects.ProjectState
        {
            Settings = settings,
            ApiKey = KarteMarketo.Grains.Projects.ProjectKeys.Hash("p_" + new string('a', 43)),
            WebhookSecret = KarteMarketo.Grains.Projects.ProjectKeys.Hash("p_" + new string('b', 43)),
            Version = 4,
            CreatedAt = DateTimeOffset.UnixEpoch,
            UpdatedAt = DateTimeOffset.UnixEpoch.AddDays(1),
        };

        // The silo stores state with System.Text.Json (UseSystemTextJsonGrainStorageSerializer), default options.
        var json = JsonSerializer.Serialize(state);
        var back = JsonSerializer.Deserialize<KarteMarketo.Grains.Projects.ProjectState>(json)!;

        Assert.Equal(state.Version, back.Version);
        Assert.Equal(state.ApiKey, back.ApiKey);
        Assert.Equal(settings.Marketo, back.Settings!.Marketo with { CustomFields = settings.Marketo.CustomFields, ExcludedFields = settings.Marketo.ExcludedFields });
        Assert.Equal(settings.Marketo.CustomFields, back.Settings.Marketo.CustomFields);
        Assert.Equal(settings.FieldMappings, back.Settings.FieldMappings);
        Assert.Equal("amount", back.Settings.ActivityMappings[0].Attributes["price"]);
        Assert.Equal(settings.Quota, back.Settings.Quota);
        Assert.Equal(settings.RealtimeSync.Keys, back.Settings.RealtimeSync.Keys);
        Assert.True(back.Exists);
    }

    private static void Merge(JsonObject target, JsonObject change)
    {
        foreach (var (key, value) in change.ToList())
        {
            if (value is JsonObject child && target[key] is JsonObject existing)
            {
                Merge(existing, child);
            }
            else
            {
                change.Remove(key);
                target[key] = value;
            }
        }
    }
}
