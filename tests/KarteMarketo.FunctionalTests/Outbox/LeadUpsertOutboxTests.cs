using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KarteMarketo.Contracts;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.MarketoSandbox;
using Microsoft.Extensions.DependencyInjection;

namespace KarteMarketo.FunctionalTests.Outbox;

/// <summary><c>POST …/leads</c> → the lead outbox → Sync Leads (and Associate Lead) on the sandbox over real HTTP.</summary>
public sealed class LeadUpsertOutboxTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>, IAsyncLifetime
{
    private SandboxServer _sandbox = null!;

    public async Task InitializeAsync() => _sandbox = await SandboxServer.StartAsync(timeProvider: app.Time);

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    private Task<CreatedProject> CreateProjectAsync(string projectId) =>
        app.CreateProjectAsync(projectId, _sandbox.RestEndpoint, _sandbox.IdentityEndpoint, _sandbox.ClientId, _sandbox.ClientSecret);

    private async Task<JsonArray> LeadsAsync(string projectId, string? status = null)
    {
        using var admin = app.CreateAdminClient();
        var query = status is null ? "?limit=1000" : $"?status={status}&limit=1000";
        return (await OutboxTestKit.GetJsonAsync(admin, $"/v1/projects/{projectId}/leads{query}"))["leads"]!.AsArray();
    }

    [Fact]
    public async Task Thousand_upserts_take_at_most_four_sync_calls_and_skipped_records_show_marketo_s_reasons()
    {
        var project = await CreateProjectAsync("lo-thousand");
        var existing = _sandbox.State.SeedLead("user7@example.com", ("firstName", "Old"));
        // Every 100th record carries a value Marketo refuses (leadScore is an integer field): skipped with 1003.
        var body = new JsonArray([.. Enumerable.Range(0, 1000).Select(i => (JsonNode)new JsonObject
        {
            ["userId"] = $"u-{i}",
            ["email"] = $"User{i}@Example.com",
            ["fields"] = new JsonObject
            {
                ["firstName"] = $"Name{i}",
                ["leadScore"] = i % 100 == 99 ? JsonValue.Create("lots") : JsonValue.Create(i),
            },
        })]);

        using var client = app.CreateProjectClient(project.ApiKey);
        using (var response = await client.PostAsJsonAsync($"/v1/projects/{project.ProjectId}/leads", body))
        {
            var (status, answer, _) = await OutboxTestKit.ReadAsync(response);
            Assert.Equal(HttpStatusCode.Accepted, status);
            Assert.Equal(1000, answer!["accepted"]!.GetValue<int>());
        }

        await OutboxTestKit.AdvanceUntilAsync(app, () => _sandbox.Counters.LeadsSynced.Count >= 1000, what: "1000 leads synced");
        Assert.InRange(_sandbox.Counters.CallsTo(SandboxEndpointNames.SyncLeads), 1, 4);
        Assert.All(_sandbox.Counters.LeadsSynced, s => Assert.Equal(("createOrUpdate", "email"), (s.Action, s.LookupField)));

        await OutboxTestKit.AdvanceUntilAsync(app, async () => (await LeadsAsync(project.ProjectId, "pending")).Count == 0, what: "rows finished");
        var skipped = await LeadsAsync(project.ProjectId, "skipped");
        Assert.Equal(10, skipped.Count);
        Assert.All(skipped, row =>
        {
            Assert.Equal("skipped", row!["result"]!.GetValue<string>());
            Assert.Equal("1003", row["reasons"]![0]!["code"]!.GetValue<string>());
            Assert.Contains("leadScore", row["reasons"]![0]!["message"]!.GetValue<string>());
        });
        var delivered = await LeadsAsync(project.ProjectId, "delivered");
        Assert.Equal(990, delivered.Count);

        // The existing lead was updated, the others created; each key grain learned its lead id.
        Assert.Equal("Name7", _sandbox.State.GetLead(existing)!["firstName"]);
        var grains = app.Services.GetRequiredService<IGrainFactory>();
        var user7 = await grains.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(project.ProjectId, LeadKeyType.Email, "user7@example.com")).GetAsync();
        Assert.Equal(existing, user7.LeadId);
        var created = _sandbox.State.FindLeadsByEmail("user8@example.com").Single();
        var user8 = await grains.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(project.ProjectId, LeadKeyType.Email, "user8@example.com")).GetAsync();
        Assert.Equal(created.Id, user8.LeadId);
        Assert.Equal(created.Id, delivered.Single(r => r!["userId"]!.GetValue<string>() == "u-8")!["leadId"]!.GetValue<long>());
        Assert.Empty(_sandbox.Counters.Breaches);
    }

    [Fact]
    public async Task A_cookie_is_associated_with_its_lead_once()
    {
        var project = await CreateProjectAsync("lo-cookie");
        const string cookie = "id:123-ABC-456&token:_mch-example.com-1700000000000-22222";
        using var client = app.CreateProjectClient(project.ApiKey);

        for (var round = 1; round <= 2; round++)
        {
            using (var response = await client.PostAsJsonAsync($"/v1/projects/{project.ProjectId}/leads",
                       new { userId = "u-kim", email = "kim@example.com", fields = new { firstName = $"Kim{round}" }, marketo_cookie = cookie }))
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            var expected = round;
            await OutboxTestKit.AdvanceUntilAsync(app, async () => (await LeadsAsync(project.ProjectId, "delivered")).Count == expected,
                what: $"round {round} delivered");
        }

        Assert.Equal(2, _sandbox.Counters.CallsTo(SandboxEndpointNames.SyncLeads));
        var association = Assert.Single(_sandbox.Counters.Associations);
        Assert.Equal(cookie, association.Cookie);
        var lead = _sandbox.State.FindLeadsByEmail("kim@example.com").Single();
        Assert.Equal(lead.Id, association.LeadId);
        Assert.Equal("Kim2", lead["firstName"]);
        Assert.Equal(1, _sandbox.Counters.CallsTo(SandboxEndpointNames.AssociateLead));
        var rows = await LeadsAsync(project.ProjectId, "delivered");
        Assert.Equal(["already associated", "associated"], rows.Select(r => r!["association"]!.GetValue<string>()));

        var grains = app.Services.GetRequiredService<IGrainFactory>();
        var byCookie = await grains.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(project.ProjectId, LeadKeyType.Cookie, cookie)).GetAsync();
        Assert.Equal(lead.Id, byCookie.LeadId);
    }

    [Fact]
    public async Task Bad_lead_upserts_are_refused_whole()
    {
        var project = await CreateProjectAsync("lo-bad");
        using var client = app.CreateProjectClient(project.ApiKey);
        var path = $"/v1/projects/{project.ProjectId}/leads";

        async Task AssertBadAsync(object payload, string field)
        {
            using var response = await client.PostAsJsonAsync(path, payload);
            var (status, body, contentType) = await OutboxTestKit.ReadAsync(response);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Equal("application/problem+json", contentType);
            Assert.NotNull(body!["errors"]![field]);
        }
        await AssertBadAsync(new { userId = "u-1" }, "email");
        await AssertBadAsync(new { email = "a@example.com", fields = new { nested = new { a = 1 } } }, "fields.nested");
        await AssertBadAsync(new { email = "a@example.com", marketo_cookie = "not-a-cookie" }, "marketo_cookie");
        await AssertBadAsync(new object[] { new { email = "a@example.com" }, new { email = "nope" } }, "[1].email");
        await AssertBadAsync(Array.Empty<object>(), "$");

        app.Time.Advance(TimeSpan.FromSeconds(5));
        Assert.Empty(await LeadsAsync(project.ProjectId));
        Assert.Equal(0, _sandbox.Counters.CallsTo(SandboxEndpointNames.SyncLeads));
    }
}
