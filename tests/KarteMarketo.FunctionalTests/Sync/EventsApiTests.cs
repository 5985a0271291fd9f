using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;
using static KarteMarketo.FunctionalTests.Sync.SyncTestKit;

namespace KarteMarketo.FunctionalTests.Sync;

/// <summary>POST /v1/projects/{id}/events: validation (all or nothing), auth, and what is stored before the 202.</summary>
public sealed class EventsApiTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    private static async Task<(HttpStatusCode Status, JsonObject Body)> PostAsync(HttpClient client, string projectId, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await client.PostAsync($"/v1/projects/{projectId}/events", content);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonNode.Parse(text)!.AsObject());
    }

    [Fact]
    public async Task One_event_or_an_array_is_accepted_and_users_are_recorded()
    {
        await using var kit = await StartAsync(app, "events-ok", Settings(realtime: false));
        var (status, body) = await PostAsync(kit.Events, kit.ProjectId, """{ "userId": "u-1", "event": "view", "values": { "page": "/" } }""");
        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal(1, (int)body["accepted"]!);

        (status, body) = await PostAsync(kit.Events, kit.ProjectId, """
            [ { "userId": "u-2", "event": "identify", "values": { "email": " U2@Example.COM " } },
              { "userId": "u-3", "event": "identify" },
              { "userId": "u-2", "event": "purchase", "values": { "email": "not checked for other events" } } ]
            """);
        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal(3, (int)body["accepted"]!);

        Assert.NotNull(await kit.GetUserAsync("u-1"));
        Assert.NotNull(await kit.GetUserAsync("u-3"));
        var u2 = (await kit.GetUserAsync("u-2"))!;
        Assert.Equal("email", (string?)u2["sync"]!["key"]);   // linked by the normalised email
        Assert.Equal(0, kit.LookupCalls);                       // realtime off
    }

    [Theory]
    [InlineData("""[ { "userId": "ok", "event": "identify", "values": { "email": "fine@example.com" } }, { "userId": "bad", "event": "identify", "values": { "email": "not-an-email" } } ]""", "[1].values.email")]
    [InlineData("""{ "event": "identify" }""", "userId")]
    [InlineData("""{ "userId": "", "event": "identify" }""", "userId")]
    [InlineData("""{ "userId": 12, "event": "identify" }""", "userId")]
    [InlineData("""{ "userId": "u" }""", "event")]
    [InlineData("""{ "userId": "u", "event": "identify", "values": [1] }""", "values")]
    [InlineData("""{ "userId": "u", "event": "identify", "values": { "email": 5 } }""", "values.email")]
    [InlineData("""{ "userId": "u", "event": "identify", "values": { "marketo_cookie": "garbage" } }""", "values.marketo_cookie")]
    [InlineData("""[]""", "$")]
    [InlineData("""[ 1 ]""", "[0]")]
    [InlineData("\"text\"", "$")]
    public async Task Invalid_events_reject_the_whole_request_and_store_nothing(string json, string errorPath)
    {
        await using var kit = await StartAsync(app, "events-bad-" + Guid.NewGuid().ToString("N")[..8], Settings(realtime: true));
        var (status, body) = await PostAsync(kit.Events, kit.ProjectId, json);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.True(body["errors"]!.AsObject().ContainsKey(errorPath), body.ToJsonString());
        Assert.Null(await kit.GetUserAsync("ok"));
        Assert.Null(await kit.GetUserAsync("u"));
    }

    [Fact]
    public async Task User_id_over_512_bytes_and_more_than_1000_events_are_refused()
    {
        await using var kit = await StartAsync(app, "events-limits", Settings(realtime: false));
        var longId = new string('あ', 171);   // 513 bytes in UTF-8, 171 characters
        var (status, body) = await PostAsync(kit.Events, kit.ProjectId, new JsonObject { ["userId"] = longId, ["event"] = "view" }.ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.True(body["errors"]!.AsObject().ContainsKey("userId"));

        var okId = new string('あ', 170);     // 510 bytes
        (status, _) = await PostAsync(kit.Events, kit.ProjectId, new JsonObject { ["userId"] = okId, ["event"] = "view" }.ToJsonString());
        Assert.Equal(HttpStatusCode.Accepted, status);

        var tooMany = new JsonArray([.. Enumerable.Range(0, 1_001).Select(i => (JsonNode)new JsonObject { ["userId"] = $"m{i}", ["event"] = "view" })]);
        (status, _) = await PostAsync(kit.Events, kit.ProjectId, tooMany.ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Null(await kit.GetUserAsync("m0"));
    }

    [Fact]
    public async Task An_escaped_event_name_is_still_an_identify_and_a_chunked_body_reads_the_same()
    {
        await using var kit = await StartAsync(app, "events-escaped", Settings(realtime: false));
        // "\u0069dentify" is "identify" once unescaped: the fast reading's shared name must not miss it.
        var (status, body) = await PostAsync(kit.Events, kit.ProjectId,
            """[ { "userId": "esc-1", "event": "\u0069dentify", "values": { "email": "esc-1@example.com" } }, { "userId": "esc-2", "event": "identifY", "values": { "email": "esc-2@example.com" } } ]""");
        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal(2, (int)body["accepted"]!);
        Assert.Equal("email", (string?)(await kit.GetUserAsync("esc-1"))!["sync"]!["key"]);
        // Any other name, even one letter off, is not an identify: the user is seen, but no key is linked.
        Assert.Null((await kit.GetUserAsync("esc-2"))!["sync"]?["key"]);

        // No Content-Length (chunked): read whole, not from a pooled buffer of the announced size.
        var json = Encoding.UTF8.GetBytes("""{ "userId": "chunked-1", "event": "identify", "values": { "email": "chunked-1@example.com" } }""");
        using var content = new StreamContent(new MemoryStream(json));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/projects/{kit.ProjectId}/events") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using var response = await kit.Events.SendAsync(request);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal("email", (string?)(await kit.GetUserAsync("chunked-1"))!["sync"]!["key"]);
    }

    [Fact]
    public async Task Events_need_the_project_key_of_that_project()
    {
        await using var kit = await StartAsync(app, "events-auth", Settings(realtime: false));
        await using var other = await StartAsync(app, "events-auth-other", Settings(realtime: false));
        const string json = """{ "userId": "u", "event": "view" }""";

        using var anonymous = app.CreateClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await PostAsync(anonymous, kit.ProjectId, json)).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(other.Events, kit.ProjectId, json)).Status);
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(kit.Events, kit.ProjectId, json)).Status);
    }

    [Fact]
    public async Task Segments_page_with_a_cursor_and_refuse_bad_input()
    {
        await using var kit = await StartAsync(app, "events-segments", Settings(batchDelayMs: 100),
            seed: s => { for (var i = 0; i < 25; i++) s.SeedLead($"seg{i}@example.com"); });
        await kit.SendAsync([.. Enumerable.Range(0, 25).Select(i => Identify($"seg-{i:D2}", $"seg{i}@example.com"))]);
        await kit.AdvanceUntilAsync(TimeSpan.FromMilliseconds(100), async () => await kit.SegmentCountAsync("marketo-lead-synced") == 25, "25 synced");

        var seen = new List<string>();
        string? after = null;
        do
        {
            var page = await kit.GetSegmentAsync("marketo-lead-synced", limit: 10, after: after);
            Assert.Equal(25, (long)page["count"]!);
            seen.AddRange(page["users"]!.AsArray().Select(u => (string)u!));
            after = (string?)page["next"];
        }
        while (after is not null);
        Assert.Equal(Enumerable.Range(0, 25).Select(i => $"seg-{i:D2}"), seen);
        Assert.Equal(0, (long)(await kit.GetSegmentAsync("marketo-cookie-synced"))["count"]!);

        Assert.Equal(HttpStatusCode.NotFound, (await kit.Admin.GetAsync($"/v1/projects/{kit.ProjectId}/segments/nope")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await kit.Admin.GetAsync($"/v1/projects/{kit.ProjectId}/segments/marketo-lead-synced?limit=0")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await kit.Admin.GetAsync($"/v1/projects/{kit.ProjectId}/segments/marketo-lead-synced?after=%%%")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await kit.Events.GetAsync($"/v1/projects/{kit.ProjectId}/segments/marketo-lead-synced")).StatusCode);
    }
}
