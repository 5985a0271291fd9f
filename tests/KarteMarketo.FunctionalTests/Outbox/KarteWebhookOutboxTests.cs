using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.MarketoSandbox;

namespace KarteMarketo.FunctionalTests.Outbox;

/// <summary>
/// <c>POST …/webhooks/karte</c> → the activity outbox → the dispatcher → <c>activities/external.json</c> on the sandbox
/// over real HTTP, all on the test's clock.
/// </summary>
public sealed class KarteWebhookOutboxTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>, IAsyncLifetime
{
    private SandboxServer _sandbox = null!;
    private int _typeId;

    public async Task InitializeAsync()
    {
        _sandbox = await SandboxServer.StartAsync(timeProvider: app.Time);
        _typeId = _sandbox.State.AddActivityType("karte_purchase", "KARTE purchase", "itemName", "price", "currency");
    }

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    private Task<CreatedProject> CreateProjectAsync(string projectId) =>
        app.CreateProjectAsync(projectId, _sandbox.RestEndpoint, _sandbox.IdentityEndpoint, _sandbox.ClientId, _sandbox.ClientSecret,
            settings => settings["activityMappings"] = new JsonArray(new JsonObject
            {
                ["event"] = "purchase",
                ["activityTypeId"] = _typeId,
                ["primaryAttribute"] = "item_name",
                ["attributes"] = new JsonObject { ["price"] = "amount", ["currency"] = "currency" },
            }));

    private static JsonObject Purchase(string id, string userId, string email, int i) => new()
    {
        ["id"] = id,
        ["userId"] = userId,
        ["email"] = email,
        ["event"] = "purchase",
        ["values"] = new JsonObject { ["item_name"] = $"Coat {i}", ["amount"] = 100 + i, ["currency"] = "JPY", ["color"] = "red" },
        ["timestamp"] = "2026-11-28T10:00:00+09:00",
    };

    private async Task<JsonArray> ActivitiesAsync(string projectId, string? status = null, int limit = 1000)
    {
        using var admin = app.CreateAdminClient();
        var query = status is null ? $"?limit={limit}" : $"?status={status}&limit={limit}";
        return (await OutboxTestKit.GetJsonAsync(admin, $"/v1/projects/{projectId}/activities{query}"))["activities"]!.AsArray();
    }

    [Fact]
    public async Task Thousand_mapped_events_of_known_users_reach_marketo_in_at_most_four_calls_and_repeats_add_nothing()
    {
        var project = await CreateProjectAsync("ko-thousand");
        var users = Enumerable.Range(0, 1000).Select(i => (UserId: $"u-{i}", Email: $"buyer{i}@example.com")).ToList();
        var leadIds = users.ToDictionary(u => u.Email, u => _sandbox.State.SeedLead(u.Email));
        await OutboxTestKit.IdentifyAsync(app, project, users.Select(u => (u.UserId, (string?)u.Email, (string?)null)));

        using var client = app.CreateProjectClient(project.ApiKey);
        async Task PostAllAsync(int expectedDuplicates)
        {
            // One delivery per request, as KARTE's webhook sends them.
            for (var i = 0; i < users.Count; i++)
            {
                using var response = await client.PostAsJsonAsync($"/v1/projects/{project.ProjectId}/webhooks/karte",
                    Purchase($"evt-{i}", users[i].UserId, users[i].Email, i));
                var (status, body, _) = await OutboxTestKit.ReadAsync(response);
                Assert.Equal(HttpStatusCode.Accepted, status);
                Assert.Equal(1, body!["accepted"]!.GetValue<int>());
                Assert.Equal(expectedDuplicates, body["duplicates"]!.GetValue<int>());
            }
        }

        await PostAllAsync(expectedDuplicates: 0);
        await OutboxTestKit.AdvanceUntilAsync(app, () => _sandbox.Counters.ActivitiesAdded.Count >= 1000, what: "1000 activities added");

        var activityCalls = _sandbox.Counters.CallsTo(SandboxEndpointNames.AddCustomActivities);
        if (activityCalls > 4)
        {
            await OutboxTestKit.AdvanceUntilAsync(app, async () => (await ActivitiesAsync(project.ProjectId, "delivered")).Count == 1000);
            var rows = await ActivitiesAsync(project.ProjectId, "delivered");
            var shape = string.Join("; ", rows.GroupBy(r => (r!["deliveredAt"]!.ToString(), r["attempts"]!.GetValue<int>()))
                .Select(g => $"{g.Key} x{g.Count()} ids {g.Min(r => r!["id"]!.GetValue<long>())}-{g.Max(r => r!["id"]!.GetValue<long>())}"));
            Assert.Fail($"{activityCalls} activity calls: {_sandbox.Counters.ToJson()["callsByEndpointAndCode"]!.ToJsonString()} {shape}");
        }
        var added = _sandbox.Counters.ActivitiesAdded;
        Assert.Equal(1000, added.Count);
        var byItem = added.ToDictionary(a => a.PrimaryAttributeValue);
        for (var i = 0; i < users.Count; i++)
        {
            var activity = byItem[$"Coat {i}"];
            Assert.Equal(leadIds[users[i].Email], activity.LeadId);
            Assert.Equal(_typeId, activity.ActivityTypeId);
            Assert.Equal(100 + i, activity.Attributes["price"]!.GetValue<int>());
            Assert.Equal("JPY", activity.Attributes["currency"]!.GetValue<string>());
            Assert.False(activity.Attributes.ContainsKey("color"));
            Assert.Equal(new DateTimeOffset(2026, 11, 28, 1, 0, 0, TimeSpan.Zero), activity.ActivityDate);
        }
        Assert.Empty(_sandbox.Counters.Breaches);
        await OutboxTestKit.AdvanceUntilAsync(app, async () => (await ActivitiesAsync(project.ProjectId, "delivered")).Count == 1000,
            what: "1000 rows delivered");
        var row = (await ActivitiesAsync(project.ProjectId, "delivered", 1))[0]!;
        Assert.NotNull(row["marketoGUID"]);
        Assert.NotNull(row["leadId"]);

        // KARTE delivers again: every delivery is accepted, none is sent twice.
        var calls = _sandbox.Counters.CallsTo(SandboxEndpointNames.AddCustomActivities);
        await PostAllAsync(expectedDuplicates: 1);
        app.Time.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(await ActivitiesAsync(project.ProjectId, "pending"));
        Assert.Equal(1000, _sandbox.Counters.ActivitiesAdded.Count);
        Assert.Equal(calls, _sandbox.Counters.CallsTo(SandboxEndpointNames.AddCustomActivities));
    }

    [Fact]
    public async Task An_unmapped_event_is_ignored_and_bad_input_stores_nothing()
    {
        var project = await CreateProjectAsync("ko-unmapped");
        using var client = app.CreateProjectClient(project.ApiKey);
        var path = $"/v1/projects/{project.ProjectId}/webhooks/karte";

        using (var unmapped = await client.PostAsJsonAsync(path, new { id = "evt-x", userId = "u-1", email = "a@example.com", @event = "page_view" }))
        {
            var (status, body, _) = await OutboxTestKit.ReadAsync(unmapped);
            Assert.Equal(HttpStatusCode.Accepted, status);
            Assert.Equal(0, body!["accepted"]!.GetValue<int>());
            Assert.Equal(1, body["ignored"]!.GetValue<int>());
        }

        async Task AssertBadAsync(object payload, string field)
        {
            using var response = await client.PostAsJsonAsync(path, payload);
            var (status, body, contentType) = await OutboxTestKit.ReadAsync(response);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Equal("application/problem+json", contentType);
            Assert.NotNull(body!["errors"]![field]);
        }
        await AssertBadAsync(new { userId = "u-1", email = "a@example.com", @event = "purchase", values = new { item_name = "x" } }, "id");
        await AssertBadAsync(new { id = "e1", userId = "u-1", email = "a@", @event = "purchase", values = new { item_name = "x" } }, "email");
        await AssertBadAsync(new { id = "e1", userId = "u-1", @event = "purchase", values = new { amount = 1 } }, "values.item_name");
        await AssertBadAsync(new { id = "e1", userId = "u-1", @event = "purchase", values = new { item_name = "x" }, timestamp = "2026-11-28 10:00:00" }, "timestamp");
        // One bad event in an array: the whole request is refused, the good one is not stored either.
        await AssertBadAsync(new object[]
        {
            new { id = "e-good", email = "a@example.com", @event = "purchase", values = new { item_name = "x" } },
            new { id = "e-bad", @event = "purchase", values = new { item_name = "x" } },
        }, "[1].email");

        using var wrongKey = app.CreateProjectClient("not-a-key");
        using (var unauthorized = await wrongKey.PostAsJsonAsync(path, new { id = "e1" }))
            Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);

        app.Time.Advance(TimeSpan.FromSeconds(5));
        Assert.Empty(await ActivitiesAsync(project.ProjectId));
        Assert.Equal(0, _sandbox.Counters.CallsTo(SandboxEndpointNames.AddCustomActivities));
        using var admin = app.CreateAdminClient();
        using var badStatus = await admin.GetAsync($"/v1/projects/{project.ProjectId}/activities?status=sent");
        Assert.Equal(HttpStatusCode.BadRequest, badStatus.StatusCode);
    }

    [Fact]
    public async Task An_activity_whose_lead_never_appears_fails_with_marketo_s_code_after_being_retried_for_a_while()
    {
        var project = await CreateProjectAsync("ko-notfound");
        using var client = app.CreateProjectClient(project.ApiKey);
        using (var response = await client.PostAsJsonAsync($"/v1/projects/{project.ProjectId}/webhooks/karte",
                   Purchase("evt-ghost", "u-ghost", "ghost@example.com", 1)))
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        // Small steps: the lookup's time-out runs on the test clock, and a busy machine must not make it fire first.
        await OutboxTestKit.AdvanceUntilAsync(app, async () => (await ActivitiesAsync(project.ProjectId, "pending")).FirstOrDefault()?["error"] is not null,
            step: TimeSpan.FromMilliseconds(100), what: "first attempt");
        var pending = (await ActivitiesAsync(project.ProjectId, "pending"))[0]!;
        Assert.True(pending["error"]!["code"]!.GetValue<string>() == "1004", pending.ToJsonString());

        await OutboxTestKit.AdvanceUntilAsync(app, async () => (await ActivitiesAsync(project.ProjectId, "failed")).Count == 1,
            step: TimeSpan.FromMinutes(1), what: "failed after an hour");
        var failed = (await ActivitiesAsync(project.ProjectId, "failed"))[0]!;
        Assert.Equal("1004", failed["error"]!["code"]!.GetValue<string>());
        Assert.True(failed["attempts"]!.GetValue<int>() > 1);
        Assert.DoesNotContain(_sandbox.Counters.ActivitiesAdded, a => a.PrimaryAttributeValue == "Coat 1");
    }
}
