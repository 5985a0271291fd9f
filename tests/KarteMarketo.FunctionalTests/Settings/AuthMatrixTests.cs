using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;
using static KarteMarketo.FunctionalTests.FrontDoor.SettingsTestKit;

namespace KarteMarketo.FunctionalTests.FrontDoor;

/// <summary>
/// The auth matrix of API.md ("Auth") for every endpoint group: no key, a wrong key, another project's key, this
/// project's keys and the admin key. Bodies are valid, so only auth can refuse them.
/// </summary>
public sealed class AuthMatrixTests(SettingsAppFactory app) : IClassFixture<SettingsAppFactory>
{
    public enum Needs
    {
        Admin,
        ProjectKey,
        WebhookSecret,
    }

    private const string Email = "auth-matrix@example.com";

    private static readonly Dictionary<string, string?> Bodies = new()
    {
        ["settings"] = MinimalSettings().ToJsonString(),
        ["event"] = """{"userId":"u-auth-1","event":"identify","values":{"email":"auth-matrix@example.com"}}""",
        ["karte"] = """{"id":"evt-auth-1","userId":"u-auth-1","email":"auth-matrix@example.com","event":"purchase","values":{"item_name":"Coat","amount":120},"timestamp":"2026-11-28T10:00:00+09:00"}""",
        ["lead"] = """{"userId":"u-auth-1","email":"auth-matrix@example.com","fields":{"firstName":"Ann"}}""",
        ["marketo"] = """{"email":"auth-matrix@example.com","leadId":318581,"event_name":"marketo_email_click","activity":"Clicked Link"}""",
    };

    /// <summary>Endpoint group: method, path under the project, route template, body, and who may call it.</summary>
    public static TheoryData<string, string, string, string?, Needs> Endpoints() => new()
    {
        { "PUT", "settings", "settings", "settings", Needs.Admin },
        { "GET", "settings", "settings", null, Needs.Admin },
        { "POST", "keys/rotate", "keys/rotate", null, Needs.Admin },
        { "POST", "events", "events", "event", Needs.ProjectKey },
        { "POST", "webhooks/karte", "webhooks/karte", "karte", Needs.ProjectKey },
        { "POST", "leads", "leads", "lead", Needs.ProjectKey },
        { "GET", "leads?status=pending", "leads", null, Needs.Admin },
        { "POST", "webhooks/marketo", "webhooks/marketo", "marketo", Needs.WebhookSecret },
        { "GET", "users/u-auth-1", "users/{userId}", null, Needs.Admin },
        { "GET", "users/u-auth-1/events?limit=10", "users/{userId}/events", null, Needs.Admin },
        { "GET", "segments/marketo-lead-synced?limit=10", "segments/{segment}", null, Needs.Admin },
        { "GET", "quota", "quota", null, Needs.Admin },
        { "POST", "sync/run", "sync/run", null, Needs.Admin },
        { "GET", "activities?status=pending&limit=10", "activities", null, Needs.Admin },
    };

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task Only_the_right_credentials_pass(string method, string path, string template, string? body, Needs needs)
    {
        Assert.True(RouteExists(method, template), $"{method} /v1/projects/{{projectId}}/{template} is not mapped (yet)");

        var id = "am-" + template.Replace("/", "-").Replace("{", "").Replace("}", "") + "-" + method.ToLowerInvariant();
        using var admin = app.CreateAdminClient();
        // No syncs: this is about auth only, and nothing should be left running against the unreachable Marketo.
        var settings = MinimalSettings();
        settings["periodicSync"] = new JsonObject { ["enabled"] = false };
        settings["realtimeSync"] = new JsonObject { ["enabled"] = false };
        var a = await admin.PutSettingsOkAsync(id + "-a", settings);
        var b = await admin.PutSettingsOkAsync(id + "-b", settings);
        string Key(JsonObject p, string name) => (string)p[name]!;
        var wrongKey = $"{id}-a_{new string('A', 43)}";

        var cases = new List<(string Label, Action<HttpRequestMessage> Credential, Func<HttpStatusCode, bool> Expect, string Want)>
        {
            ("no credentials", _ => { }, s => s == HttpStatusCode.Unauthorized, "401"),
            ("garbage bearer", r => Bearer(r, "nope"), s => s == HttpStatusCode.Unauthorized, "401"),
            ("well-formed wrong key", r => Bearer(r, wrongKey), s => s == HttpStatusCode.Unauthorized, "401"),
            ("admin key plus a letter", r => Bearer(r, KarteMarketo.FunctionalTests.Infrastructure.KarteMarketoAppFactory.AdminKey + "x"), s => s == HttpStatusCode.Unauthorized, "401"),
            ("other project's API key", r => Bearer(r, Key(b, "apiKey")), s => s == HttpStatusCode.Forbidden, "403"),
        };
        switch (needs)
        {
            case Needs.Admin:
                cases.Add(("this project's API key", r => Bearer(r, Key(a, "apiKey")), s => s == HttpStatusCode.Forbidden, "403"));
                cases.Add(("this project's webhook secret", r => r.Headers.Add("X-Webhook-Secret", Key(a, "webhookSecret")), s => s == HttpStatusCode.Unauthorized, "401"));
                break;
            case Needs.ProjectKey:
                cases.Add(("this project's webhook secret as bearer", r => Bearer(r, Key(a, "webhookSecret")), s => s == HttpStatusCode.Forbidden, "403"));
                cases.Add(("this project's API key", r => Bearer(r, Key(a, "apiKey")), Passed, "passed auth"));
                break;
            case Needs.WebhookSecret:
                cases.Add(("wrong secret in header", r => r.Headers.Add("X-Webhook-Secret", wrongKey), s => s == HttpStatusCode.Unauthorized, "401"));
                cases.Add(("other project's secret in header", r => r.Headers.Add("X-Webhook-Secret", Key(b, "webhookSecret")), s => s == HttpStatusCode.Forbidden, "403"));
                cases.Add(("other project's secret in query", r => AddQuery(r, "secret", Key(b, "webhookSecret")), s => s == HttpStatusCode.Forbidden, "403"));
                cases.Add(("this project's API key as bearer", r => Bearer(r, Key(a, "apiKey")), s => s == HttpStatusCode.Forbidden, "403"));
                cases.Add(("this project's secret in header", r => r.Headers.Add("X-Webhook-Secret", Key(a, "webhookSecret")), Passed, "passed auth"));
                cases.Add(("this project's secret in query", r => AddQuery(r, "secret", Key(a, "webhookSecret")), Passed, "passed auth"));
                break;
        }
        // Last: the admin key may change the project (rotate, replace settings).
        cases.Add(("admin key", r => Bearer(r, KarteMarketo.FunctionalTests.Infrastructure.KarteMarketoAppFactory.AdminKey), Passed, "passed auth"));

        var failures = new List<string>();
        using var client = app.CreateClient();
        foreach (var (label, credential, expect, want) in cases)
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), $"/v1/projects/{id}-a/{path}");
            if (body is not null) request.Content = new StringContent(Bodies[body]!, Encoding.UTF8, "application/json");
            credential(request);
            using var response = await client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            if (!expect(response.StatusCode)) failures.Add($"{label}: expected {want}, got {(int)response.StatusCode} {text}");
            else if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            }
        }
        Assert.True(failures.Count == 0, $"{method} {path}:\n" + string.Join("\n", failures));
    }

    private static bool Passed(HttpStatusCode status) =>
        status is not (HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden or HttpStatusCode.MethodNotAllowed);

    private static void Bearer(HttpRequestMessage request, string key) =>
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);

    private static void AddQuery(HttpRequestMessage request, string name, string value)
    {
        var uri = request.RequestUri!.ToString();
        request.RequestUri = new Uri(uri + (uri.Contains('?') ? "&" : "?") + name + "=" + Uri.EscapeDataString(value), UriKind.Relative);
    }

    /// <summary>Whether the route is mapped, whatever its parameter names and constraints.</summary>
    private bool RouteExists(string method, string template)
    {
        var wanted = Normalize("v1/projects/{projectId}/" + template);
        return app.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Any(e => Normalize(e.RoutePattern) == wanted
                      && (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods.Contains(method) ?? true));
    }

    private static string Normalize(string template) => Normalize(RoutePatternFactory.Parse(template));

    private static string Normalize(RoutePattern pattern) =>
        string.Join("/", pattern.PathSegments.Select(segment => string.Concat(segment.Parts.Select(part => part switch
        {
            RoutePatternLiteralPart literal => literal.Content.ToLowerInvariant(),
            RoutePatternParameterPart => "{}",
            _ => "",
        }))));
}
