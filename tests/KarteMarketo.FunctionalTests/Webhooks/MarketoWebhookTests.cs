using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.FunctionalTests.Outbox;
using KarteMarketo.Grains.Identity;
using KarteMarketo.MarketoSandbox;
using Microsoft.Extensions.DependencyInjection;

namespace KarteMarketo.FunctionalTests.Webhooks;

/// <summary>
/// <c>POST …/webhooks/marketo</c> over HTTP as Marketo's webhook templates send it (JSON or form encoded), and
/// <c>GET …/users/{userId}/events</c>: the event lands on the user linked to the email, lead id or cookie.
/// </summary>
public sealed class MarketoWebhookTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>, IAsyncLifetime
{
    private SandboxServer _sandbox = null!;

    public async Task InitializeAsync() => _sandbox = await SandboxServer.StartAsync(timeProvider: app.Time);

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    private Task<CreatedProject> CreateProjectAsync(string projectId, string? zone = null) =>
        app.CreateProjectAsync(projectId, _sandbox.RestEndpoint, _sandbox.IdentityEndpoint, _sandbox.ClientId, _sandbox.ClientSecret,
            settings => { if (zone is not null) settings["marketo"]!["timeZone"] = zone; });

    private HttpClient WebhookClient(CreatedProject project)
    {
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Add("X-Webhook-Secret", project.WebhookSecret);
        return client;
    }

    private async Task<JsonArray> EventsAsync(string projectId, string userId)
    {
        using var admin = app.CreateAdminClient();
        return (await OutboxTestKit.GetJsonAsync(admin, $"/v1/projects/{projectId}/users/{userId}/events?limit=100"))["events"]!.AsArray();
    }

    [Fact]
    public async Task A_json_webhook_is_recorded_on_the_user_linked_to_its_email_with_its_time_read_in_the_instance_zone()
    {
        var project = await CreateProjectAsync("mw-json");
        await OutboxTestKit.IdentifyAsync(app, project, [("u-ann", "ann@example.com", null), ("u-bob", "bob@example.com", null)]);
        using var client = WebhookClient(project);

        // As a template with JSON token encoding renders it: Marketo quotes every token itself, numbers included.
        using var content = new StringContent("""
            { "email": " Ann@Example.COM ", "leadId": "318581", "event_name": "marketo_email_click",
              "activity": "Clicked Link", "campaign": "Winter", "dateTime": "2026-11-28 06:30:00" }
            """, System.Text.Encoding.UTF8, "application/json");
        using var response = await client.PostAsync($"/v1/projects/{project.ProjectId}/webhooks/marketo", content);
        var (status, body, _) = await OutboxTestKit.ReadAsync(response);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(body!["recorded"]!.GetValue<bool>());
        Assert.Equal(["u-ann"], body["users"]!.AsArray().Select(u => u!.GetValue<string>()));

        var events = await EventsAsync(project.ProjectId, "u-ann");
        var recorded = Assert.Single(events)!;
        Assert.Equal("marketo_email_click", recorded["event_name"]!.GetValue<string>());
        Assert.Equal("Clicked Link", recorded["values"]!["activity"]!.GetValue<string>());
        Assert.Equal("Winter", recorded["values"]!["campaign"]!.GetValue<string>());
        Assert.Null(recorded["values"]!["event_name"]);
        // {{system.dateTime}} has no offset: it is Central time (CST, UTC-6, in November).
        Assert.Equal("2026-11-28T06:30:00-06:00", recorded["values"]!["dateTime"]!.GetValue<string>());
        Assert.Equal(new DateTimeOffset(2026, 11, 28, 12, 30, 0, TimeSpan.Zero), recorded["occurredAt"]!.GetValue<DateTimeOffset>());
        Assert.Equal(app.Time.GetUtcNow(), recorded["receivedAt"]!.GetValue<DateTimeOffset>());
        Assert.Empty(await EventsAsync(project.ProjectId, "u-bob"));
    }

    [Fact]
    public async Task A_form_encoded_webhook_with_the_secret_in_the_url_is_recorded_with_the_default_event_name()
    {
        var project = await CreateProjectAsync("mw-form", zone: "Asia/Tokyo");
        await OutboxTestKit.IdentifyAsync(app, project, [("u-cho", "cho+news@example.com", null)]);
        using var client = app.CreateClient();

        using var content = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            // Form/Url token encoding: the '+' and '&' arrive percent-encoded and must come back as they were.
            ["email"] = "cho+news@example.com",
            ["activity"] = "Filled Out Form & More",
            ["activityDate"] = "2026-11-28 21:00:00",
        });
        using var response = await client.PostAsync(
            $"/v1/projects/{project.ProjectId}/webhooks/marketo?secret={Uri.EscapeDataString(project.WebhookSecret)}", content);
        var (status, body, _) = await OutboxTestKit.ReadAsync(response);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["u-cho"], body!["users"]!.AsArray().Select(u => u!.GetValue<string>()));
        var recorded = Assert.Single(await EventsAsync(project.ProjectId, "u-cho"))!;
        Assert.Equal("marketo_activity", recorded["event_name"]!.GetValue<string>());
        Assert.Equal("Filled Out Form & More", recorded["values"]!["activity"]!.GetValue<string>());
        // The project's own zone (Tokyo, UTC+9) is used for offset-less times.
        Assert.Equal("2026-11-28T21:00:00+09:00", recorded["values"]!["activityDate"]!.GetValue<string>());
        Assert.Equal(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero), recorded["occurredAt"]!.GetValue<DateTimeOffset>());
    }

    [Fact]
    public async Task A_repeat_with_the_same_idempotency_key_is_answered_200_and_recorded_once()
    {
        var project = await CreateProjectAsync("mw-idem");
        await OutboxTestKit.IdentifyAsync(app, project, [("u-dan", "dan@example.com", null)]);
        using var client = WebhookClient(project);

        for (var i = 0; i < 3; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/projects/{project.ProjectId}/webhooks/marketo")
            {
                Content = JsonContent.Create(new { email = "dan@example.com", activity = "Visited Web Page" }),
            };
            request.Headers.Add("Idempotency-Key", "campaign-7-lead-9-run-1");
            using var response = await client.SendAsync(request);
            var (status, body, _) = await OutboxTestKit.ReadAsync(response);
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.True(body!["recorded"]!.GetValue<bool>());
            Assert.Equal(["u-dan"], body["users"]!.AsArray().Select(u => u!.GetValue<string>()));
            Assert.Equal(i > 0, body["duplicate"]?.GetValue<bool>() ?? false);
        }
        // The dedupe_key field works the same way when a template cannot set a header.
        for (var i = 0; i < 2; i++)
        {
            using var response = await client.PostAsJsonAsync($"/v1/projects/{project.ProjectId}/webhooks/marketo",
                new { email = "dan@example.com", activity = "Opened Email", dedupe_key = "open-1" });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var events = await EventsAsync(project.ProjectId, "u-dan");
        Assert.Equal(2, events.Count);
        Assert.Equal(["Opened Email", "Visited Web Page"], events.Select(e => e!["values"]!["activity"]!.GetValue<string>()));
        Assert.Null(events[0]!["values"]!["dedupe_key"]);
    }

    [Fact]
    public async Task A_webhook_for_an_unknown_email_is_kept_and_shown_once_a_user_links_to_the_email()
    {
        var project = await CreateProjectAsync("mw-later");
        using var client = WebhookClient(project);

        using var response = await client.PostAsJsonAsync($"/v1/projects/{project.ProjectId}/webhooks/marketo",
            new { email = "eve@example.com", event_name = "marketo_form_fill", activity = "Filled Out Form" });
        var (status, body, _) = await OutboxTestKit.ReadAsync(response);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(body!["recorded"]!.GetValue<bool>());
        Assert.Empty(body["users"]!.AsArray());

        await OutboxTestKit.IdentifyAsync(app, project, [("u-eve", "EVE@example.com", null)]);

        var recorded = Assert.Single(await EventsAsync(project.ProjectId, "u-eve"))!;
        Assert.Equal("marketo_form_fill", recorded["event_name"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_webhook_with_only_a_lead_id_reaches_the_user_the_sync_matched_to_that_lead()
    {
        var project = await CreateProjectAsync("mw-lead");
        var leadId = _sandbox.State.SeedLead("lee@example.com", ("firstName", "Lee"));
        await OutboxTestKit.IdentifyAsync(app, project, [("u-lee", "lee@example.com", null)]);
        var users = app.Services.GetRequiredService<IUserStore>();
        await OutboxTestKit.AdvanceUntilAsync(app, async () => (await users.FindUsersByLeadIdAsync(project.ProjectId,
            KarteMarketo.Contracts.Projects.MarketoInstance.FromEndpoint(_sandbox.RestEndpoint.ToString()), leadId)).Contains("u-lee"),
            what: "the realtime sync matched the lead");
        using var client = WebhookClient(project);

        using var response = await client.PostAsJsonAsync($"/v1/projects/{project.ProjectId}/webhooks/marketo",
            new { leadId, event_name = "marketo_score_change", score = 40 });
        var (status, body, _) = await OutboxTestKit.ReadAsync(response);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["u-lee"], body!["users"]!.AsArray().Select(u => u!.GetValue<string>()));
        var recorded = Assert.Single(await EventsAsync(project.ProjectId, "u-lee"))!;
        Assert.Equal(40, recorded["values"]!["score"]!.GetValue<int>());
        Assert.Equal(leadId, recorded["values"]!["leadId"]!.GetValue<long>());
    }

    [Fact]
    public async Task A_webhook_by_cookie_reaches_the_user_linked_to_that_cookie()
    {
        var project = await CreateProjectAsync("mw-cookie");
        const string cookie = "id:123-ABC-456&token:_mch-example.com-1700000000000-11111";
        await OutboxTestKit.IdentifyAsync(app, project, [("u-fay", null, cookie)]);
        using var client = WebhookClient(project);

        using var response = await client.PostAsJsonAsync($"/v1/projects/{project.ProjectId}/webhooks/marketo",
            new { email = "", leadId = "", marketo_cookie = cookie, activity = "Visited Web Page" });
        var (status, body, _) = await OutboxTestKit.ReadAsync(response);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["u-fay"], body!["users"]!.AsArray().Select(u => u!.GetValue<string>()));
        Assert.Single(await EventsAsync(project.ProjectId, "u-fay"));
    }

    [Fact]
    public async Task Bad_webhooks_are_4xx_problems_and_record_nothing()
    {
        var project = await CreateProjectAsync("mw-bad");
        await OutboxTestKit.IdentifyAsync(app, project, [("u-gus", "gus@example.com", null)]);
        using var client = WebhookClient(project);
        var path = $"/v1/projects/{project.ProjectId}/webhooks/marketo";

        async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode expected, string? field)
        {
            var (status, body, contentType) = await OutboxTestKit.ReadAsync(response);
            Assert.Equal(expected, status);
            Assert.Equal("application/problem+json", contentType);
            if (field is not null) Assert.NotNull(body!["errors"]![field]);
        }

        using (var none = await client.PostAsJsonAsync(path, new { activity = "x" }))
            await AssertProblemAsync(none, HttpStatusCode.BadRequest, "email");
        using (var badLead = await client.PostAsJsonAsync(path, new { leadId = "12a", activity = "x" }))
            await AssertProblemAsync(badLead, HttpStatusCode.BadRequest, "leadId");
        using (var badEmail = await client.PostAsJsonAsync(path, new { email = "gus@", activity = "x" }))
            await AssertProblemAsync(badEmail, HttpStatusCode.BadRequest, "email");
        using (var malformed = await client.PostAsync(path, new StringContent("{\"email\": ", System.Text.Encoding.UTF8, "application/json")))
            await AssertProblemAsync(malformed, HttpStatusCode.BadRequest, null);
        using (var array = await client.PostAsJsonAsync(path, new[] { new { email = "gus@example.com" } }))
            await AssertProblemAsync(array, HttpStatusCode.BadRequest, "$");

        using var anonymous = app.CreateClient();
        using (var noSecret = await anonymous.PostAsJsonAsync(path, new { email = "gus@example.com" }))
            await AssertProblemAsync(noSecret, HttpStatusCode.Unauthorized, null);
        using (var apiKey = app.CreateProjectClient(project.ApiKey))
        using (var wrongKind = await apiKey.PostAsJsonAsync(path, new { email = "gus@example.com" }))
            Assert.Equal(HttpStatusCode.Forbidden, wrongKind.StatusCode);

        Assert.Empty(await EventsAsync(project.ProjectId, "u-gus"));
        using var admin = app.CreateAdminClient();
        using var unknownUser = await admin.GetAsync($"/v1/projects/{project.ProjectId}/users/nobody/events");
        Assert.Equal(HttpStatusCode.NotFound, unknownUser.StatusCode);
        using var badLimit = await admin.GetAsync($"/v1/projects/{project.ProjectId}/users/u-gus/events?limit=0");
        Assert.Equal(HttpStatusCode.BadRequest, badLimit.StatusCode);
    }
}
