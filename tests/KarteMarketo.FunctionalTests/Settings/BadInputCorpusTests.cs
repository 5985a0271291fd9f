using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.Server.FrontDoor;
using static KarteMarketo.FunctionalTests.FrontDoor.SettingsTestKit;

namespace KarteMarketo.FunctionalTests.FrontDoor;

/// <summary>
/// Malformed requests against the settings and events endpoints (API.md, "Conventions", "Project settings", "KARTE
/// events in"). Each must be answered 4xx problem+json, and afterwards the project's settings read exactly as before
/// and no user from the corpus exists.
/// </summary>
public sealed class BadInputCorpusTests(CorpusAppFactory app) : IClassFixture<CorpusAppFactory>
{
    private const string SettingsProject = "corpus-s";
    private const string EventsProject = "corpus-e";
    private const string CorpusUser = "corpus-user";

    private static string Settings(Action<JsonObject> change)
    {
        var body = MinimalSettings();
        change(body);
        return body.ToJsonString();
    }

    private static string Event(string userId = CorpusUser, string? email = "corpus@example.com") =>
        new JsonObject { ["userId"] = userId, ["event"] = "identify", ["values"] = new JsonObject { ["email"] = email } }.ToJsonString();

    private static string Deep(int depth) => string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth);

    /// <summary>Name → (target, raw body bytes, content type).</summary>
    private static readonly Dictionary<string, (string Target, byte[] Body, string? ContentType)> Corpus = Build();

    private static Dictionary<string, (string, byte[], string?)> Build()
    {
        var c = new Dictionary<string, (string, byte[], string?)>();
        void S(string name, string body, string? type = "application/json") => c["settings: " + name] = ("settings", Encoding.UTF8.GetBytes(body), type);
        void SB(string name, byte[] body) => c["settings: " + name] = ("settings", body, "application/json");
        void E(string name, string body, string? type = "application/json") => c["events: " + name] = ("events", Encoding.UTF8.GetBytes(body), type);
        void EB(string name, byte[] body) => c["events: " + name] = ("events", body, "application/json");
        var valid = MinimalSettings().ToJsonString();

        // settings: broken JSON
        S("empty body", "");
        S("whitespace body", "  \r\n ");
        S("unclosed object", valid[..^1]);
        S("lone closing brace", "}");
        S("trailing garbage", valid + " x");
        S("trailing comma", valid[..^2] + ",}}");
        S("comment", "/* hi */" + valid);
        S("single quotes", valid.Replace('"', '\''));
        S("NaN literal", Settings(b => b["quota"] = new JsonObject()).Replace("\"quota\":{}", "\"quota\":{\"dailyLimit\":NaN}"));
        S("duplicate property", valid[..^1] + ",\"marketo\":{\"clientId\":\"other\"}}");
        S("nested 100 deep", valid[..^1] + ",\"x\":" + Deep(100) + "}");
        SB("invalid UTF-8", [.. Encoding.UTF8.GetBytes("{\"marketo\":{\"clientId\":\""), 0xFF, 0xFE, .. Encoding.UTF8.GetBytes("\"}}")]);
        S("raw control character in string", valid.Replace("client-id-1", "client\u0001id"));
        // settings: valid JSON, wrong shapes and types
        S("array instead of object", "[" + valid + "]");
        S("JSON null", "null");
        S("bare string", "\"settings\"");
        S("bare number", "42");
        S("marketo is a string", Settings(b => b["marketo"] = "x"));
        S("dailyLimit as string", Settings(b => b["quota"] = new JsonObject { ["dailyLimit"] = "50000" }));
        S("dailyLimit with exponent", Settings(b => b["quota"] = new JsonObject()).Replace("\"quota\":{}", "\"quota\":{\"dailyLimit\":5e4}"));
        S("dailyLimit overflows int", Settings(b => b["quota"] = new JsonObject { ["dailyLimit"] = 3_000_000_000L }));
        S("enabled as 1", Settings(b => b["periodicSync"] = new JsonObject { ["enabled"] = 1 }));
        S("escaped control character in clientId", Settings(b => b["marketo"]!["clientId"] = "a\u0000b"));
        S("escaped newline in clientSecret", Settings(b => b["marketo"]!["clientSecret"] = "secret\nline"));
        S("clientId of 500,000 characters", Settings(b => b["marketo"]!["clientId"] = new string('c', 500_000)));
        S("5,000 custom fields", Settings(b => b["marketo"]!["customFields"] = new JsonArray(Enumerable.Range(0, 5000).Select(i => (JsonNode)JsonValue.Create($"f{i}")).ToArray())));
        S("non-ASCII field name", Settings(b => b["marketo"]!["customFields"] = new JsonArray("名前")));
        S("javascript endpoint", Settings(b => b["marketo"]!["endpoint"] = "javascript:alert(1)//rest"));
        S("unknown convert", Settings(b => b["fieldMappings"] = JsonNode.Parse("""[{"marketoField":"a","convert":"eval","syncField":"a"}]""")));
        S("body over 1 MiB", Settings(b => b["padding"] = new string(' ', RequestLimits.MaxBodyBytes)));
        S("text/plain", valid, "text/plain");
        S("form-encoded", "marketo.clientId=a", "application/x-www-form-urlencoded");

        // events: broken JSON
        E("empty body", "");
        E("unclosed object", Event()[..^1]);
        E("truncated literal", "nul");
        // Built by hand: a JsonObject would escape the control character and make the JSON valid.
        E("raw control character in userId", "{\"userId\":\"corpus\u0002user\",\"event\":\"identify\"}");
        E("duplicate userId", "{\"userId\":\"" + CorpusUser + "\",\"userId\":\"x\",\"event\":\"identify\"}");
        E("nested 100 deep in values", "{\"userId\":\"" + CorpusUser + "\",\"event\":\"view\",\"values\":" + Deep(100) + "}");
        EB("invalid UTF-8", [.. Encoding.UTF8.GetBytes("{\"userId\":\"corpus-"), 0xC3, 0x28, .. Encoding.UTF8.GetBytes("\",\"event\":\"identify\"}")]);
        // events: contract violations
        E("userId missing", """{"event":"identify","values":{"email":"corpus@example.com"}}""");
        E("userId null", """{"userId":null,"event":"identify"}""");
        E("userId empty", """{"userId":"","event":"identify"}""");
        E("userId a number", """{"userId":12345,"event":"identify"}""");
        E("userId of 513 bytes", Event(new string('u', 513)));
        E("userId of 200 three-byte characters", Event(string.Concat(Enumerable.Repeat("あ", 200))));
        E("userId of 100,000 characters", Event(new string('u', 100_000)));
        E("event missing", "{\"userId\":\"" + CorpusUser + "\"}");
        E("event a number", "{\"userId\":\"" + CorpusUser + "\",\"event\":123}");
        E("values an array", "{\"userId\":\"" + CorpusUser + "\",\"event\":\"identify\",\"values\":[1,2]}");
        E("values a string", "{\"userId\":\"" + CorpusUser + "\",\"event\":\"identify\",\"values\":\"email\"}");
        E("invalid email: no at", Event(email: "not-an-email"));
        E("invalid email: no domain", Event(email: "corpus@"));
        E("invalid email: no local part", Event(email: "@example.com"));
        E("invalid email: space", Event(email: "cor pus@example.com"));
        E("bare string body", "\"identify\"");
        E("array with a null", "[" + Event() + ",null]");
        E("valid event then a bad one", "[" + Event() + ",{\"event\":\"identify\"}]");
        E("valid event then a bad email", "[" + Event() + "," + Event("corpus-user-2", "bad@") + "]");
        E("1,001 events", "[" + string.Join(",", Enumerable.Range(0, 1001).Select(i => Event($"{CorpusUser}-{i}"))) + "]");
        E("body over 1 MiB", "[" + string.Join(",", Enumerable.Range(0, 1000).Select(_ => "{\"userId\":\"" + CorpusUser + "\",\"event\":\"view\",\"values\":{\"pad\":\"" + new string('p', 1100) + "\"}}")) + "]");
        E("text/plain", Event(), "text/plain");
        return c;
    }

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var name in Corpus.Keys) data.Add(name);
        return data;
    }

    [Fact]
    public void The_corpus_has_at_least_40_requests() => Assert.True(Corpus.Count >= 40, $"{Corpus.Count} requests");

    [Theory]
    [MemberData(nameof(Names))]
    public async Task Bad_input_is_4xx_problem_and_changes_nothing(string name)
    {
        var (target, body, contentType) = Corpus[name];
        var (settingsKey, eventsKey) = await app.ProjectsAsync();
        using var admin = app.CreateAdminClient();
        var before = await admin.GetSettingsOkAsync(SettingsProject);
        var eventsBefore = await admin.GetSettingsOkAsync(EventsProject);

        var content = new ByteArrayContent(body);
        if (contentType is not null) content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        using var client = target == "settings" ? app.CreateAdminClient() : app.CreateProjectClient(eventsKey);
        using var response = target == "settings"
            ? await client.PutAsync($"/v1/projects/{SettingsProject}/settings", content)
            : await client.PostAsync($"/v1/projects/{EventsProject}/events", content);

        await AssertClientErrorProblemAsync(response);
        Assert.NotEqual(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(before.ToJsonString(), (await admin.GetSettingsOkAsync(SettingsProject)).ToJsonString());
        Assert.Equal(eventsBefore.ToJsonString(), (await admin.GetSettingsOkAsync(EventsProject)).ToJsonString());
        foreach (var user in new[] { CorpusUser, CorpusUser + "-0", "corpus-user-2" })
        {
            using var read = await admin.GetAsync($"/v1/projects/{EventsProject}/users/{user}");
            Assert.NotEqual(HttpStatusCode.OK, read.StatusCode);
        }
        _ = settingsKey;
    }

    [Fact]
    public async Task A_bad_project_id_in_the_path_is_400()
    {
        using var admin = app.CreateAdminClient();
        using var response = await admin.PutSettingsAsync("bad!id", MinimalSettings());
        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["projectId"], ErrorPaths(problem));
    }
}

/// <summary>The host of the corpus, with its two projects created once.</summary>
public sealed class CorpusAppFactory : SettingsAppFactory
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private (string SettingsKey, string EventsKey)? _keys;

    public async Task<(string SettingsKey, string EventsKey)> ProjectsAsync()
    {
        await _gate.WaitAsync();
        try
        {
            if (_keys is { } keys) return keys;
            using var admin = CreateAdminClient();
            var s = await admin.PutSettingsOkAsync("corpus-s", MinimalSettings());
            var e = await admin.PutSettingsOkAsync("corpus-e", MinimalSettings());
            _keys = ((string)s["apiKey"]!, (string)e["apiKey"]!);
            return _keys.Value;
        }
        finally
        {
            _gate.Release();
        }
    }
}
