using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using KarteMarketo.MarketoSandbox;
using static KarteMarketo.FunctionalTests.FrontDoor.SettingsTestKit;

namespace KarteMarketo.FunctionalTests.FrontDoor;

/// <summary>PUT/GET settings and key rotation over HTTP (API.md, "Project settings").</summary>
public sealed class SettingsApiTests(SettingsAppFactory app) : IClassFixture<SettingsAppFactory>
{
    private const string KeyPattern = "^[A-Za-z0-9_-]+$";

    [Fact]
    public async Task Creating_a_project_returns_the_stored_settings_with_defaults_and_fresh_keys_in_full()
    {
        using var admin = app.CreateAdminClient();

        var created = await admin.PutSettingsOkAsync("create-1", MinimalSettings());

        Assert.Equal("create-1", (string)created["projectId"]!);
        Assert.Equal("client-id-1", (string)created["marketo"]!["clientId"]!);
        Assert.Equal("America/Chicago", (string)created["marketo"]!["timeZone"]!);
        Assert.Null(created["marketo"]!["munchkinPrivateKey"]);
        Assert.Equal(30, (int)created["periodicSync"]!["intervalMinutes"]!);
        Assert.True((bool)created["periodicSync"]!["enabled"]!);
        Assert.Equal("""["email","cookie"]""", created["realtimeSync"]!["keys"]!.ToJsonString());
        Assert.Equal(86400, (int)created["realtimeSync"]!["resyncWindowSeconds"]!);
        Assert.Equal(1000, (int)created["realtimeSync"]!["batchDelayMilliseconds"]!);
        Assert.Equal("""{"dailyLimit":50000,"reservePercent":10,"callsPer20Seconds":90,"maxConcurrentCalls":8}""", created["quota"]!.ToJsonString());
        Assert.Equal("[]", created["fieldMappings"]!.ToJsonString());
        Assert.Equal("[]", created["activityMappings"]!.ToJsonString());

        var apiKey = (string)created["apiKey"]!;
        var webhookSecret = (string)created["webhookSecret"]!;
        Assert.Matches(KeyPattern, apiKey);
        Assert.Matches(KeyPattern, webhookSecret);
        Assert.True(apiKey.Length >= 43 && webhookSecret.Length >= 43);
        Assert.NotEqual(apiKey, webhookSecret);
    }

    [Fact]
    public async Task Secrets_are_masked_in_put_and_get_answers_and_keys_only_shown_once()
    {
        using var admin = app.CreateAdminClient();
        var body = MinimalSettings("client-secret-ABCD1234");
        body["marketo"]!["munchkinPrivateKey"] = "munchkin-private-WXYZ9876";

        var created = await admin.PutSettingsOkAsync("mask-1", body);
        Assert.Equal("****1234", (string)created["marketo"]!["clientSecret"]!);
        Assert.Equal("****9876", (string)created["marketo"]!["munchkinPrivateKey"]!);
        var apiKey = (string)created["apiKey"]!;
        var webhookSecret = (string)created["webhookSecret"]!;

        var read = await admin.GetSettingsOkAsync("mask-1");
        var again = await admin.PutSettingsOkAsync("mask-1", body);

        foreach (var answer in new[] { read, again })
        {
            var text = answer.ToJsonString();
            Assert.Equal("****1234", (string)answer["marketo"]!["clientSecret"]!);
            Assert.Equal("****9876", (string)answer["marketo"]!["munchkinPrivateKey"]!);
            Assert.Equal("****" + apiKey[^4..], (string)answer["apiKey"]!);
            Assert.Equal("****" + webhookSecret[^4..], (string)answer["webhookSecret"]!);
            Assert.DoesNotContain("client-secret-ABCD1234", text);
            Assert.DoesNotContain("munchkin-private-WXYZ9876", text);
            Assert.DoesNotContain(apiKey, text);
            Assert.DoesNotContain(webhookSecret, text);
        }
    }

    [Fact]
    public async Task Keys_survive_a_second_put_and_the_new_settings_apply()
    {
        using var admin = app.CreateAdminClient();
        var created = await admin.PutSettingsOkAsync("keep-1", MinimalSettings());
        var apiKey = (string)created["apiKey"]!;

        var changed = MinimalSettings();
        changed["quota"] = new JsonObject { ["dailyLimit"] = 1234 };
        var updated = await admin.PutSettingsOkAsync("keep-1", changed);

        Assert.Equal(1234, (int)updated["quota"]!["dailyLimit"]!);
        Assert.Equal((long)created["version"]! + 1, (long)updated["version"]!);
        Assert.Equal("****" + apiKey[^4..], (string)updated["apiKey"]!);
        // The key still opens the project: on an admin endpoint it is a valid key of the wrong kind (403, not 401).
        using var project = app.CreateProjectClient(apiKey);
        using var response = await project.GetAsync("/v1/projects/keep-1/settings");
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task Rotation_issues_new_keys_once_and_the_old_ones_stop_working()
    {
        using var admin = app.CreateAdminClient();
        var created = await admin.PutSettingsOkAsync("rotate-1", MinimalSettings());
        var oldKey = (string)created["apiKey"]!;
        var oldSecret = (string)created["webhookSecret"]!;

        using var rotateResponse = await admin.PostAsync("/v1/projects/rotate-1/keys/rotate", null);
        Assert.Equal(HttpStatusCode.OK, rotateResponse.StatusCode);
        var rotated = JsonNode.Parse(await rotateResponse.Content.ReadAsStringAsync())!.AsObject();
        var newKey = (string)rotated["apiKey"]!;
        var newSecret = (string)rotated["webhookSecret"]!;

        Assert.Matches(KeyPattern, newKey);
        Assert.NotEqual(oldKey, newKey);
        Assert.NotEqual(oldSecret, newSecret);
        Assert.Equal("****1234"[..4], ((string)rotated["marketo"]!["clientSecret"]!)[..4]);
        var read = await admin.GetSettingsOkAsync("rotate-1");
        Assert.Equal("****" + newKey[^4..], (string)read["apiKey"]!);

        // Old key: unknown now (401). New key: a valid key, wrong kind for this admin endpoint (403).
        using var oldClient = app.CreateProjectClient(oldKey);
        using var oldAnswer = await oldClient.GetAsync("/v1/projects/rotate-1/settings");
        await AssertProblemAsync(oldAnswer, HttpStatusCode.Unauthorized);
        using var newClient = app.CreateProjectClient(newKey);
        using var newAnswer = await newClient.GetAsync("/v1/projects/rotate-1/settings");
        await AssertProblemAsync(newAnswer, HttpStatusCode.Forbidden);
        using var oldSecretClient = app.CreateProjectClient(oldSecret);
        using var oldSecretAnswer = await oldSecretClient.GetAsync("/v1/projects/rotate-1/settings");
        await AssertProblemAsync(oldSecretAnswer, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Rotating_or_reading_an_unknown_project_is_404()
    {
        using var admin = app.CreateAdminClient();
        using var rotate = await admin.PostAsync("/v1/projects/never-created/keys/rotate", null);
        await AssertProblemAsync(rotate, HttpStatusCode.NotFound);
        using var read = await admin.GetAsync("/v1/projects/never-created/settings");
        await AssertProblemAsync(read, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_masked_secret_sent_back_keeps_the_stored_one()
    {
        using var admin = app.CreateAdminClient();
        await admin.PutSettingsOkAsync("echo-1", MinimalSettings("the-real-secret-5678"));
        var read = await admin.GetSettingsOkAsync("echo-1");

        // The settings screen sends back what it read, with one change.
        read["periodicSync"]!["intervalMinutes"] = 45;
        var saved = await admin.PutSettingsOkAsync("echo-1", read);

        Assert.Equal(45, (int)saved["periodicSync"]!["intervalMinutes"]!);
        Assert.Equal("****5678", (string)saved["marketo"]!["clientSecret"]!);
        // Had the mask been stored, a new PUT with a different mask would now match nothing; the real secret is kept.
        var wrongMask = MinimalSettings("****0000");
        using var refused = await admin.PutSettingsAsync("echo-1", wrongMask);
        var problem = await AssertProblemAsync(refused, HttpStatusCode.BadRequest);
        Assert.Contains("marketo.clientSecret", ErrorPaths(problem));
    }

    [Fact]
    public async Task A_masked_secret_for_a_new_project_is_refused()
    {
        using var admin = app.CreateAdminClient();
        using var response = await admin.PutSettingsAsync("echo-new", MinimalSettings("****5678"));
        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["marketo.clientSecret"], ErrorPaths(problem));
        using var read = await admin.GetAsync("/v1/projects/echo-new/settings");
        Assert.Equal(HttpStatusCode.NotFound, read.StatusCode);
    }

    [Fact]
    public async Task Credentials_that_marketo_accepts_are_reported_ok()
    {
        await using var sandbox = await SandboxServer.StartAsync(timeProvider: app.Time);

        var created = await app.CreateProjectAsync("conn-ok", sandbox.RestEndpoint, sandbox.IdentityEndpoint, sandbox.ClientId, sandbox.ClientSecret);

        Assert.Equal("ok", (string)created.Response["marketoConnection"]!);
        // Identity calls only: the check spends nothing of the day's quota.
        Assert.Equal(0, sandbox.Counters.CountedCalls);
        Assert.True(sandbox.Counters.Calls.Count >= 1, "the identity endpoint was asked");
    }

    [Fact]
    public async Task Credentials_that_marketo_refuses_are_reported_and_stored_anyway()
    {
        await using var sandbox = await SandboxServer.StartAsync(timeProvider: app.Time);
        using var admin = app.CreateAdminClient();
        var body = MinimalSettings("not-the-right-secret-0000");
        body["marketo"]!["clientId"] = "unknown-client-" + Guid.NewGuid().ToString("N");
        body["marketo"]!["endpoint"] = sandbox.RestEndpoint.ToString();
        body["marketo"]!["identity"] = sandbox.IdentityEndpoint.ToString();

        var saved = await admin.PutSettingsOkAsync("conn-refused", body);

        Assert.StartsWith("failed: ", (string)saved["marketoConnection"]!);
        Assert.DoesNotContain("not-the-right-secret-0000", saved.ToJsonString());
        Assert.Equal((string)body["marketo"]!["clientId"]!, (string)(await admin.GetSettingsOkAsync("conn-refused"))["marketo"]!["clientId"]!);
    }

    [Fact]
    public async Task An_unreachable_marketo_is_reported_and_the_settings_are_stored_anyway()
    {
        using var admin = app.CreateAdminClient();

        var saved = await admin.PutSettingsOkAsync("conn-down", MinimalSettings());

        Assert.StartsWith("failed: ", (string)saved["marketoConnection"]!);
        var read = await admin.GetSettingsOkAsync("conn-down");
        Assert.Equal(UnreachableRest, (string)read["marketo"]!["endpoint"]!);
        Assert.Null(read["marketoConnection"]);
    }

    /// <summary>One row per rule of API.md: a change to valid settings, and the JSON path the 400 must name.</summary>
    public static TheoryData<string, string> Rules() => new()
    {
        { """{"marketo":{"clientId":null}}""", "marketo.clientId" },
        { """{"marketo":{"clientSecret":null}}""", "marketo.clientSecret" },
        { """{"marketo":{"endpoint":null}}""", "marketo.endpoint" },
        { """{"marketo":{"identity":null}}""", "marketo.identity" },
        { """{"marketo":{"endpoint":"ftp://example.com/rest"}}""", "marketo.endpoint" },
        { """{"marketo":{"identity":"not a url"}}""", "marketo.identity" },
        { """{"marketo":{"timeZone":"Mars/Olympus"}}""", "marketo.timeZone" },
        { """{"marketo":{"customFields":["my score"]}}""", "marketo.customFields[0]" },
        { """{"marketo":{"excludedFields":[""]}}""", "marketo.excludedFields[0]" },
        { """{"periodicSync":{"intervalMinutes":0}}""", "periodicSync.intervalMinutes" },
        { """{"realtimeSync":{"resyncWindowSeconds":0}}""", "realtimeSync.resyncWindowSeconds" },
        { """{"realtimeSync":{"batchDelayMilliseconds":10001}}""", "realtimeSync.batchDelayMilliseconds" },
        { """{"realtimeSync":{"batchDelayMilliseconds":-1}}""", "realtimeSync.batchDelayMilliseconds" },
        { """{"realtimeSync":{"keys":["phone"]}}""", "realtimeSync.keys[0]" },
        { """{"quota":{"dailyLimit":0}}""", "quota.dailyLimit" },
        { """{"quota":{"reservePercent":91}}""", "quota.reservePercent" },
        { """{"quota":{"reservePercent":-1}}""", "quota.reservePercent" },
        { """{"quota":{"callsPer20Seconds":0}}""", "quota.callsPer20Seconds" },
        { """{"quota":{"callsPer20Seconds":101}}""", "quota.callsPer20Seconds" },
        { """{"quota":{"maxConcurrentCalls":0}}""", "quota.maxConcurrentCalls" },
        { """{"quota":{"maxConcurrentCalls":11}}""", "quota.maxConcurrentCalls" },
        { """{"fieldMappings":[{"marketoField":"a","syncField":"a"},{"marketoField":"b","syncField":"b"},{"marketoField":"c","convert":"upper","syncField":"c"}]}""", "fieldMappings[2].convert" },
        { """{"fieldMappings":[{"syncField":"a"}]}""", "fieldMappings[0].marketoField" },
        { """{"fieldMappings":[{"marketoField":"a"}]}""", "fieldMappings[0].syncField" },
        { """{"activityMappings":[{"activityTypeId":100001,"primaryAttribute":"x"}]}""", "activityMappings[0].event" },
        { """{"activityMappings":[{"event":"purchase","primaryAttribute":"x"}]}""", "activityMappings[0].activityTypeId" },
        { """{"activityMappings":[{"event":"purchase","activityTypeId":100001}]}""", "activityMappings[0].primaryAttribute" },
        { """{"activityMappings":[{"event":"purchase","activityTypeId":100001,"primaryAttribute":"x","attributes":{"price":null}}]}""", "activityMappings[0].attributes.price" },
        { """{"quota":{"callsPer20Seconds":"90"}}""", "quota.callsPer20Seconds" },
        { """{"periodicSync":{"enabled":"true"}}""", "periodicSync.enabled" },
        { """{"marketo":{"clientId":12345}}""", "marketo.clientId" },
        { """{"fieldMappings":{"marketoField":"a"}}""", "fieldMappings" },
        { """{"quota":{"dailyLimits":100}}""", "quota.dailyLimits" },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public async Task Each_rule_is_a_400_naming_the_field_and_nothing_is_stored(string change, string path)
    {
        using var admin = app.CreateAdminClient();
        var projectId = "rules-" + Math.Abs(StringComparer.Ordinal.GetHashCode(change + path) % 1_000_000);
        await admin.PutSettingsOkAsync(projectId, MinimalSettings());
        var before = await admin.GetSettingsOkAsync(projectId);

        var body = MinimalSettings();
        Merge(body, JsonNode.Parse(change)!.AsObject());
        using var response = await admin.PutSettingsAsync(projectId, body);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(ErrorPaths(problem).Contains(path), $"expected {path} in {Describe(problem)}");
        var after = await admin.GetSettingsOkAsync(projectId);
        Assert.Equal(before.ToJsonString(), after.ToJsonString());
    }

    [Fact]
    public async Task Every_bad_field_is_named_in_one_answer()
    {
        using var admin = app.CreateAdminClient();
        var body = JsonNode.Parse("""
        { "marketo": { "clientId": "c", "clientSecret": "s", "endpoint": "https://x.mktorest.com/rest", "identity": "https://x.mktorest.com/identity" },
          "quota": { "callsPer20Seconds": 101, "maxConcurrentCalls": 11 },
          "fieldMappings": [ { "marketoField": "a", "syncField": "a" }, { "marketoField": "b", "syncField": "b" }, { "marketoField": "c", "convert": "x", "syncField": "c" } ] }
        """)!;
        body["marketo"]!.AsObject().Remove("clientId");

        using var response = await admin.PutSettingsAsync("rules-all", body);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(new[] { "fieldMappings[2].convert", "marketo.clientId", "quota.callsPer20Seconds", "quota.maxConcurrentCalls" },
            ErrorPaths(problem).Order(StringComparer.Ordinal));
        Assert.Equal("[\"is required\"]", problem["errors"]!["marketo.clientId"]!.ToJsonString());
    }

    [Fact]
    public async Task Settings_need_the_admin_key_and_a_project_key_is_not_enough()
    {
        using var admin = app.CreateAdminClient();
        var created = await admin.PutSettingsOkAsync("authz-1", MinimalSettings());
        using var anonymous = app.CreateClient();
        using var withKey = app.CreateProjectClient((string)created["apiKey"]!);

        using var noKey = await anonymous.PutSettingsAsync("authz-1", MinimalSettings());
        var unauthorized = await AssertProblemAsync(noKey, HttpStatusCode.Unauthorized);
        Assert.Contains("Bearer", noKey.Headers.WwwAuthenticate.ToString());
        using var projectKey = await withKey.PutSettingsAsync("authz-1", MinimalSettings());
        await AssertProblemAsync(projectKey, HttpStatusCode.Forbidden);
        anonymous.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", KarteMarketo.FunctionalTests.Infrastructure.KarteMarketoAppFactory.AdminKey + "x");
        using var wrongAdmin = await anonymous.PostAsync("/v1/projects/authz-1/keys/rotate", null);
        await AssertProblemAsync(wrongAdmin, HttpStatusCode.Unauthorized);
        Assert.NotNull(unauthorized["detail"]);
    }

    internal static void Merge(JsonObject target, JsonObject change)
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
