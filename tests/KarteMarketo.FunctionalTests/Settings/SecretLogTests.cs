using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.MarketoSandbox;
using static KarteMarketo.FunctionalTests.FrontDoor.SettingsTestKit;

namespace KarteMarketo.FunctionalTests.FrontDoor;

/// <summary>
/// Secrets never reach the logs (API.md, "Auth"): the host's whole log output (Debug, HttpClient at Trace; messages,
/// structured values, scopes, exceptions) is captured while settings with secrets are saved, read, rotated and used,
/// also wrongly; none of the client secret, Munchkin key, API keys, webhook secrets or Marketo access token appears.
/// </summary>
public sealed class SecretLogTests(SecretLogTests.Host app) : IClassFixture<SecretLogTests.Host>
{
    [Fact]
    public async Task No_secret_is_ever_logged()
    {
        await using var sandbox = await SandboxServer.StartAsync(timeProvider: app.Time);
        sandbox.State.SeedLead("secret-log@example.com");
        const string munchkinKey = "munchkin-private-key-7f3a9c1e";
        var secrets = new List<(string Name, string Value)>
        {
            ("clientSecret", sandbox.ClientSecret),
            ("munchkinPrivateKey", munchkinKey),
        };

        // Save: the credential check gets a token from the sandbox's identity endpoint.
        var created = await app.CreateProjectAsync("secret-log", sandbox.RestEndpoint, sandbox.IdentityEndpoint,
            sandbox.ClientId, sandbox.ClientSecret, s => s["marketo"]!["munchkinPrivateKey"] = munchkinKey);
        Assert.Equal("ok", (string)created.Response["marketoConnection"]!);
        secrets.Add(("apiKey", created.ApiKey));
        secrets.Add(("webhookSecret", created.WebhookSecret));
        var other = await app.CreateProjectAsync("secret-log-other", sandbox.RestEndpoint, sandbox.IdentityEndpoint,
            sandbox.ClientId, sandbox.ClientSecret);
        secrets.Add(("other apiKey", other.ApiKey));
        secrets.Add(("other webhookSecret", other.WebhookSecret));

        using var admin = app.CreateAdminClient();
        using var project = app.CreateProjectClient(created.ApiKey);
        using var anonymous = app.CreateClient();

        // Use them, rightly and wrongly.
        await admin.GetSettingsOkAsync("secret-log");
        var read = await admin.GetSettingsOkAsync("secret-log");
        await admin.PutSettingsOkAsync("secret-log", read); // masked secrets sent back
        await Send(project, HttpMethod.Post, "/v1/projects/secret-log/events",
            """{"userId":"u-secret","event":"identify","values":{"email":"secret-log@example.com"}}""");
        await Send(project, HttpMethod.Post, "/v1/projects/secret-log/leads",
            """{"userId":"u-secret","email":"secret-log@example.com","fields":{"firstName":"Sam"}}""");
        await Send(project, HttpMethod.Get, "/v1/projects/secret-log/settings"); // 403
        await Send(project, HttpMethod.Get, "/v1/projects/secret-log-other/settings"); // 403
        await Send(app.CreateProjectClient(other.ApiKey), HttpMethod.Post, "/v1/projects/secret-log/events", "{}"); // 403
        var webhook = """{"email":"secret-log@example.com","event_name":"marketo_email_click"}""";
        await Send(anonymous, HttpMethod.Post, "/v1/projects/secret-log/webhooks/marketo", webhook,
            r => r.Headers.Add("X-Webhook-Secret", created.WebhookSecret));
        await Send(anonymous, HttpMethod.Post, $"/v1/projects/secret-log/webhooks/marketo?secret={created.WebhookSecret}", webhook);
        await Send(anonymous, HttpMethod.Post, $"/v1/projects/secret-log/webhooks/marketo?secret={other.WebhookSecret}", webhook);
        await Send(anonymous, HttpMethod.Post, $"/v1/projects/secret-log/webhooks/marketo?secret={created.WebhookSecret}x", webhook);
        await Send(admin, HttpMethod.Post, "/v1/projects/secret-log/sync/run");

        // Rotate: the new keys must not be logged either; the old ones are then used and refused.
        using var rotate = await admin.PostAsync("/v1/projects/secret-log/keys/rotate", null);
        Assert.Equal(HttpStatusCode.OK, rotate.StatusCode);
        var rotated = JsonNode.Parse(await rotate.Content.ReadAsStringAsync())!;
        secrets.Add(("rotated apiKey", (string)rotated["apiKey"]!));
        secrets.Add(("rotated webhookSecret", (string)rotated["webhookSecret"]!));
        await Send(project, HttpMethod.Post, "/v1/projects/secret-log/events",
            """{"userId":"u-secret","event":"identify","values":{"email":"secret-log@example.com"}}""");
        await Send(app.CreateProjectClient((string)rotated["apiKey"]!), HttpMethod.Post, "/v1/projects/secret-log/events",
            """{"userId":"u-secret-2","event":"identify","values":{"email":"secret-log@example.com"}}""");

        // A settings PUT with an unreachable Marketo: the failure is logged, the secret is not.
        await admin.PutSettingsOkAsync("secret-log-down", MinimalSettings("down-secret-5b2e8d41"));
        secrets.Add(("unreachable clientSecret", "down-secret-5b2e8d41"));

        // Let the realtime batch go out, so the access token is used on a REST call (and nothing is left pending).
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (sandbox.Counters.LookupCalls == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Run(() => app.Time.Advance(TimeSpan.FromSeconds(1)));
            await Task.Delay(50);
        }
        Assert.True(sandbox.Counters.LookupCalls > 0, "the identify events led to a lead lookup with the token");

        // The access token the service holds: the sandbox hands the same one out while it is valid.
        secrets.Add(("access token", await AccessTokenAsync(sandbox)));

        Assert.NotEmpty(app.Logs.Entries);
        Assert.NotEmpty(app.Logs.Containing("secret-log")); // the capture does see this project's activity
        var leaks = secrets
            .SelectMany(s => app.Logs.Containing(s.Value).Select(line => $"{s.Name} in: {line[..Math.Min(line.Length, 400)]}"))
            .ToList();
        Assert.True(leaks.Count == 0, string.Join("\n", leaks));
        Assert.Empty(app.Logs.Containing(KarteMarketoAppFactory.AdminKey));
    }

    /// <summary>No Marketo retries: the unreachable endpoint fails at once rather than backing off on the test's clock.</summary>
    public sealed class Host : LogCapturingAppFactory
    {
        public Host() => Settings["Marketo:Client:MaxRetries"] = "0";
    }

    private static async Task Send(HttpClient client, HttpMethod method, string path, string? body = null,
        Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        configure?.Invoke(request);
        using var response = await client.SendAsync(request);
        await response.Content.ReadAsStringAsync();
    }

    private static async Task<string> AccessTokenAsync(SandboxServer sandbox)
    {
        using var http = new HttpClient();
        var url = $"{sandbox.IdentityEndpoint.ToString().TrimEnd('/')}/oauth/token?grant_type=client_credentials" +
                  $"&client_id={Uri.EscapeDataString(sandbox.ClientId)}&client_secret={Uri.EscapeDataString(sandbox.ClientSecret)}";
        var json = JsonNode.Parse(await http.GetStringAsync(url))!;
        var token = (string?)json["access_token"];
        Assert.False(string.IsNullOrEmpty(token));
        return token!;
    }
}
