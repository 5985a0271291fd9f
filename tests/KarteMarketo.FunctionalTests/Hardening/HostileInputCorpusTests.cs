using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.FrontDoor;
using KarteMarketo.FunctionalTests.Infrastructure;
using static KarteMarketo.FunctionalTests.FrontDoor.SettingsTestKit;

namespace KarteMarketo.FunctionalTests.Hardening;

/// <summary>
/// Hostile input (API.md, "A hardened host"), beyond <see cref="BadInputCorpusTests"/>: text storage cannot hold in
/// every kind of field of every body, and in paths; values over 64 KiB; masked secrets rebound to another host; bad
/// token floods. Each request gets its 4xx problem and nothing is stored, while a second project posting events at
/// the same time sees no failure. Outbound targets on private addresses are refused without telling the address.
/// </summary>
public sealed class HostileInputCorpusTests
{
    private const string Hostile = "hostile";
    private const string Bystander = "bystander";
    private const string User = "h-user";
    private const string Email = "h-user@example.com";

    private sealed record Case(string Name, HttpMethod Method, string Path, string? Body, string? ContentType = "application/json",
        string Credential = "api");

    /// <summary>Outbound calls refuse private addresses here, as in production.</summary>
    private sealed class CorpusFactory : SettingsAppFactory
    {
        public CorpusFactory() => Settings["Outbound:AllowPrivateAddresses"] = "false";
    }

    private static string Json(string raw) => raw.Replace('\'', '"');

    private static string Pad(int bytes) => new('v', bytes);

    private static List<Case> Corpus()
    {
        var c = new List<Case>();
        void E(string name, string body) => c.Add(new("events: " + name, HttpMethod.Post, $"/v1/projects/{Hostile}/events", Json(body)));
        void L(string name, string body) => c.Add(new("leads: " + name, HttpMethod.Post, $"/v1/projects/{Hostile}/leads", Json(body)));
        void K(string name, string body) => c.Add(new("karte webhook: " + name, HttpMethod.Post, $"/v1/projects/{Hostile}/webhooks/karte", Json(body)));
        void M(string name, string body, string type = "application/json") =>
            c.Add(new("marketo webhook: " + name, HttpMethod.Post, $"/v1/projects/{Hostile}/webhooks/marketo", type == "application/json" ? Json(body) : body, type, "webhook"));
        void S(string name, Action<JsonObject> change)
        {
            var body = HostileSettings();
            change(body);
            // JsonObject escapes what it writes; the escapes below are put back raw so the server sees them as sent.
            c.Add(new("settings: " + name, HttpMethod.Put, $"/v1/projects/{Hostile}/settings", body.ToJsonString().Replace("\\\\u", "\\u"), Credential: "admin"));
        }
        void P(string name, string path) => c.Add(new("path: " + name, HttpMethod.Get, path, null, null, "admin"));

        // Events: every field kind.
        E("userId with U+0000", "{'userId':'h\\u0000user','event':'identify','values':{'email':'h-user@example.com'}}");
        E("userId with U+0001", "{'userId':'h\\u0001user','event':'identify'}");
        E("userId with a lone high surrogate", "{'userId':'h\\ud800','event':'identify'}");
        E("userId with a lone low surrogate", "{'userId':'\\udc00h','event':'identify'}");
        E("event with U+0000", "{'userId':'h-user','event':'ident\\u0000ify'}");
        E("event with ESC", "{'userId':'h-user','event':'view\\u001b[31m'}");
        E("values key with a newline", "{'userId':'h-user','event':'view','values':{'pa\\nge':'x'}}");
        E("values key with U+0000", "{'userId':'h-user','event':'view','values':{'\\u0000':'x'}}");
        E("values value with U+0000", "{'userId':'h-user','event':'view','values':{'page':'x\\u0000'}}");
        E("values value with a lone surrogate", "{'userId':'h-user','event':'view','values':{'page':'\\udfff'}}");
        E("email value with a tab", "{'userId':'h-user','event':'identify','values':{'email':'h-user@example.com\\t'}}");
        E("nested value with U+0000", "{'userId':'h-user','event':'view','values':{'tags':['ok','x\\u0000']}}");
        E("second event of a batch bad", "[{'userId':'h-user','event':'view'},{'userId':'h-\\u0000','event':'view'}]");
        E("values over 64 KiB", "{'userId':'h-user','event':'view','values':{'pad':'" + Pad(66 * 1024) + "'}}");
        E("one of a batch over 64 KiB", "[{'userId':'h-user','event':'view'},{'userId':'h-user','event':'view','values':{'pad':'" + Pad(65 * 1024) + "'}}]");
        // Leads.
        L("userId with U+0000", "{'userId':'h\\u0000','email':'h-user@example.com'}");
        L("email with U+0000", "{'userId':'h-user','email':'h-user@example.com\\u0000'}");
        L("email with a control character", "{'userId':'h-user','email':'h-user\\u0007@example.com'}");
        L("fields key with a control character", "{'userId':'h-user','email':'h-user@example.com','fields':{'first\\u0002Name':'Ann'}}");
        L("fields value with U+0000", "{'userId':'h-user','email':'h-user@example.com','fields':{'firstName':'A\\u0000nn'}}");
        L("fields value with a lone surrogate", "{'userId':'h-user','email':'h-user@example.com','fields':{'firstName':'\\ud83d'}}");
        L("cookie with U+0000", "{'userId':'h-user','email':'h-user@example.com','cookie':'id:\\u0000'}");
        L("fields over 64 KiB", "{'userId':'h-user','email':'h-user@example.com','fields':{'notes':'" + Pad(65 * 1024) + "'}}");
        // KARTE webhooks.
        K("id with U+0000", "{'id':'d\\u0000','event':'purchase','userId':'h-user','values':{}}");
        K("id with a control character", "{'id':'d\\u0003','event':'purchase','userId':'h-user','values':{}}");
        K("event with a lone surrogate", "{'id':'d-1','event':'purch\\ud800ase','userId':'h-user','values':{}}");
        K("userId with a control character", "{'id':'d-1','event':'purchase','userId':'h\\u007fuser','values':{}}");
        K("values key with a control character", "{'id':'d-1','event':'purchase','userId':'h-user','values':{'item\\u0000':'x'}}");
        K("values value with U+0000", "{'id':'d-1','event':'purchase','userId':'h-user','values':{'item_name':'x\\u0000'}}");
        K("email with a lone surrogate", "{'id':'d-1','event':'purchase','email':'h\\udc00@example.com','values':{}}");
        K("values over 64 KiB", "{'id':'d-1','event':'purchase','userId':'h-user','values':{'item_name':'" + Pad(70 * 1024) + "'}}");
        // Marketo webhooks (JSON and form).
        M("email with U+0000", "{'email':'h-user@example.com\\u0000','event_name':'marketo_email_click'}");
        M("event_name with a lone surrogate", "{'email':'h-user@example.com','event_name':'click\\udbff'}");
        M("form email with %00", "email=h-user%40example.com%00&event_name=marketo_email_click", "application/x-www-form-urlencoded");
        M("form field name with %01", "em%01ail=h-user%40example.com&event_name=marketo_email_click", "application/x-www-form-urlencoded");
        // Settings: every text field.
        S("clientSecret with a lone surrogate", b => b["marketo"]!["clientSecret"] = "secret\\udbff");
        S("clientId with U+0000 (escaped)", b => b["marketo"]!["clientId"] = "client\\u0000");
        S("endpoint with U+0000", b => b["marketo"]!["endpoint"] = "http://127.0.0.1:9/re\\u0000st");
        S("timeZone with a control character", b => b["marketo"]!["timeZone"] = "Asia/Tokyo\\u0008");
        S("customFields element with a control character", b => b["marketo"]!["customFields"] = new JsonArray("karte\\u0001Id"));
        S("excludedFields element with U+0000", b => b["marketo"]!["excludedFields"] = new JsonArray("phone\\u0000"));
        S("munchkinPrivateKey with a lone surrogate", b => b["marketo"]!["munchkinPrivateKey"] = "\\udc01key");
        S("fieldMappings marketoField with a control character", b => b["fieldMappings"] = new JsonArray(new JsonObject
            { ["marketoField"] = "first\\u001fName", ["syncField"] = "firstName" }));
        S("activityMappings event with U+0000", b => b["activityMappings"] = new JsonArray(new JsonObject
            { ["event"] = "purchase\\u0000", ["activityTypeId"] = 100001, ["primaryAttribute"] = "item_name" }));
        // Paths.
        P("userId with %7F (DEL)", $"/v1/projects/{Hostile}/users/h%7Fuser");
        P("userId with %C2%85 (NEL)", $"/v1/projects/{Hostile}/users/h%C2%85user");
        P("userId with %0A", $"/v1/projects/{Hostile}/users/h%0Auser");
        P("user events userId with %1F", $"/v1/projects/{Hostile}/users/h%1Fuser/events");
        P("projectId with %01", "/v1/projects/host%01ile/settings");
        return c;
    }

    /// <summary>Masked secrets sent back with a new host (the stored ones must not follow).</summary>
    private static IEnumerable<Case> MaskRebinding(JsonObject read)
    {
        var masked = read["marketo"]!;
        foreach (var (field, url) in new[]
                 {
                     ("endpoint", "https://evil.example/rest"),
                     ("identity", "https://evil.example/identity"),
                     ("identity", "http://127.0.0.1:10/identity"),
                 })
        {
            var body = HostileSettings();
            body["marketo"]!["clientSecret"] = (string)masked["clientSecret"]!;
            body["marketo"]!["munchkinPrivateKey"] = (string)masked["munchkinPrivateKey"]!;
            body["marketo"]![field] = url;
            yield return new($"mask rebinding: {field} to {url}", HttpMethod.Put, $"/v1/projects/{Hostile}/settings", body.ToJsonString(), Credential: "admin");
        }
        // Only the Munchkin key masked, the secret in full: the key must not follow either.
        var munchkinOnly = HostileSettings();
        munchkinOnly["marketo"]!["munchkinPrivateKey"] = (string)masked["munchkinPrivateKey"]!;
        munchkinOnly["marketo"]!["endpoint"] = "https://evil.example/rest";
        yield return new("mask rebinding: munchkin key to another host", HttpMethod.Put, $"/v1/projects/{Hostile}/settings", munchkinOnly.ToJsonString(), Credential: "admin");
    }

    /// <summary>Bad tokens, one after another, of every shape.</summary>
    private static IEnumerable<Case> BadTokens(string otherProjectsKey)
    {
        var tokens = new[]
        {
            "pk_hostile_" + new string('x', 32), "pk_hostile_", "pk_" + new string('z', 40), "not-a-key", otherProjectsKey,
            "pk_hostile_" + new string('a', 10_000), "pk_hostile_%C3%BC", "Bearer pk_hostile_x", "pk_../../etc/passwd", "pk_hostile_%00",
        };
        for (var i = 0; i < tokens.Length; i++)
            yield return new($"bad token {i}", HttpMethod.Post, $"/v1/projects/{Hostile}/events",
                "{\"userId\":\"h-user\",\"event\":\"view\"}", Credential: "token:" + tokens[i]);
    }

    private static JsonObject HostileSettings()
    {
        var settings = MinimalSettings();
        settings["marketo"]!["munchkinPrivateKey"] = "munchkin-key-0123456789";
        settings["activityMappings"] = new JsonArray(new JsonObject { ["event"] = "purchase", ["activityTypeId"] = 100001, ["primaryAttribute"] = "item_name" });
        return settings;
    }

    [Fact]
    public void The_corpus_has_at_least_60_new_requests() => Assert.True(Corpus().Count + 4 + 10 >= 60, $"{Corpus().Count + 14} requests");

    [Fact]
    public async Task Hostile_input_is_4xx_stores_nothing_and_a_second_project_sees_no_failure()
    {
        await using var app = new CorpusFactory();
        using var admin = app.CreateAdminClient();
        var hostile = await admin.PutSettingsOkAsync(Hostile, HostileSettings());
        var bystander = await admin.PutSettingsOkAsync(Bystander, MinimalSettings());
        var apiKey = (string)hostile["apiKey"]!;
        var webhookSecret = (string)hostile["webhookSecret"]!;
        var before = (await admin.GetSettingsOkAsync(Hostile)).ToJsonString();
        var cases = Corpus().Concat(MaskRebinding(await admin.GetSettingsOkAsync(Hostile))).Concat(BadTokens((string)bystander["apiKey"]!)).ToList();

        // The second project posts events throughout.
        using var stop = new CancellationTokenSource();
        var bystanderFailures = new List<string>();
        var bystanderAccepted = 0;
        var running = Task.Run(async () =>
        {
            using var client = app.CreateProjectClient((string)bystander["apiKey"]!);
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                using var content = new StringContent($"{{\"userId\":\"b-{i % 50}\",\"event\":\"view\",\"values\":{{\"page\":\"/p/{i}\"}}}}", Encoding.UTF8, "application/json");
                using var response = await client.PostAsync($"/v1/projects/{Bystander}/events", content, CancellationToken.None);
                if (response.StatusCode == HttpStatusCode.Accepted) bystanderAccepted++;
                else
                {
                    var text = await response.Content.ReadAsStringAsync();
                    lock (bystanderFailures) bystanderFailures.Add($"{(int)response.StatusCode} {text}");
                }
            }
        });

        var wrong = new List<string>();
        foreach (var item in cases)
        {
            using var request = new HttpRequestMessage(item.Method, item.Path);
            if (item.Body is not null)
            {
                request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(item.Body));
                if (item.ContentType is not null) request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(item.ContentType);
            }
            switch (item.Credential)
            {
                case "admin": request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", KarteMarketoAppFactory.AdminKey); break;
                case "api": request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey); break;
                case "webhook": request.Headers.Add("X-Webhook-Secret", webhookSecret); break;
                default: request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + item.Credential["token:".Length..]); break;
            }
            using var http = app.CreateClient();
            using var response = await http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            var status = (int)response.StatusCode;
            if (status is < 400 or >= 500 || response.Content.Headers.ContentType?.MediaType != "application/problem+json")
                wrong.Add($"{item.Name}: {status} {text[..Math.Min(text.Length, 300)]}");
        }

        // 1,000 distinct users on one email in one request: accepted, and nobody else is disturbed by it.
        var thousand = "[" + string.Join(",", Enumerable.Range(0, 1000).Select(i => $"{{\"userId\":\"many-{i}\",\"event\":\"identify\",\"values\":{{\"email\":\"shared@example.com\"}}}}")) + "]";
        using (var project = app.CreateProjectClient(apiKey))
        using (var many = await project.PostAsync($"/v1/projects/{Hostile}/events", new StringContent(thousand, Encoding.UTF8, "application/json")))
            Assert.Equal(HttpStatusCode.Accepted, many.StatusCode);

        await stop.CancelAsync();
        await running;

        Assert.True(wrong.Count == 0, $"{wrong.Count} of {cases.Count} not a 4xx problem:\n" + string.Join("\n", wrong));
        Assert.True(cases.Count >= 60, $"{cases.Count} requests");
        Assert.Empty(bystanderFailures);
        Assert.True(bystanderAccepted > 0, "the second project was served during the corpus");

        // Nothing stored: the settings are as before, no lead, activity or event of the corpus user exists.
        Assert.Equal(before, (await admin.GetSettingsOkAsync(Hostile)).ToJsonString());
        using (var user = await admin.GetAsync($"/v1/projects/{Hostile}/users/{User}"))
            Assert.Equal(HttpStatusCode.NotFound, user.StatusCode);
        foreach (var (list, member) in new[] { ("leads", "leads"), ("activities", "activities") })
        {
            using var response = await admin.GetAsync($"/v1/projects/{Hostile}/{list}?limit=1000");
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{list}: {(int)response.StatusCode} {body}");
            Assert.Empty(body[member]!.AsArray());
        }
        using (var events = await admin.GetAsync($"/v1/projects/{Hostile}/users/{User}/events?email={Uri.EscapeDataString(Email)}"))
        {
            var body = await events.Content.ReadAsStringAsync();
            Assert.DoesNotContain(Email, body);
        }
    }

    [Theory]
    [InlineData("http://169.254.169.254/latest")]
    [InlineData("http://10.0.0.1")]
    [InlineData("http://192.168.1.1:8080")]
    [InlineData("http://[::1]:9")]
    [InlineData("http://localhost:9")]
    [InlineData("http://0.0.0.0:9")]
    public async Task Outbound_targets_on_private_addresses_are_refused_without_naming_the_address(string baseUrl)
    {
        await using var app = new CorpusFactory();
        using var admin = app.CreateAdminClient();
        var settings = MinimalSettings();
        settings["marketo"]!["endpoint"] = baseUrl + "/rest";
        settings["marketo"]!["identity"] = baseUrl + "/identity";

        var saved = await admin.PutSettingsOkAsync("outbound", settings);

        var outcome = (string)saved["marketoConnection"]!;
        Assert.StartsWith("failed:", outcome);
        Assert.Contains("private, loopback or link-local address", outcome);
        var host = new Uri(baseUrl).Host.Trim('[', ']');
        Assert.DoesNotContain(host, outcome);
    }
}
