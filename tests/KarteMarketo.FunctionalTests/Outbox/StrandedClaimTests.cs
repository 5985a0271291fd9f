using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.Grains.Outbox;
using KarteMarketo.Grains.Flows.CustomActivities;
using KarteMarketo.Grains.Flows.LeadUpserts;
using KarteMarketo.MarketoSandbox;
using Microsoft.Extensions.DependencyInjection;

namespace KarteMarketo.FunctionalTests.Outbox;

/// <summary>
/// Rows left in flight by an activation that vanished while the dispatcher's current activation lived on (a brief
/// duplicate activation during a silo failure): the outbox scan must get them sent again within a scan, not after
/// the five-minute lease.
/// </summary>
public sealed class StrandedClaimTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    [Fact]
    public async Task Rows_claimed_by_a_vanished_activation_are_sent_after_the_next_scan_not_after_the_lease()
    {
        await using var sandbox = await SandboxServer.StartAsync(timeProvider: app.Time);
        var typeId = sandbox.State.AddActivityType("karte_view", "KARTE view", "page");
        sandbox.State.SeedLead("stranded@example.com");
        var project = await app.CreateProjectAsync("stranded", sandbox.RestEndpoint, sandbox.IdentityEndpoint, sandbox.ClientId, sandbox.ClientSecret,
            settings => settings["activityMappings"] = new JsonArray(new JsonObject
            {
                ["event"] = "view", ["activityTypeId"] = typeId, ["primaryAttribute"] = "page", ["attributes"] = new JsonObject(),
            }));
        using var client = app.CreateProjectClient(project.ApiKey);
        using var admin = app.CreateAdminClient();
        async Task PostAsync(string id)
        {
            var body = new JsonArray(new JsonObject
            {
                ["id"] = id, ["email"] = "stranded@example.com", ["event"] = "view", ["values"] = new JsonObject { ["page"] = $"/{id}" },
            });
            using var response = await client.PostAsJsonAsync("/v1/projects/stranded/webhooks/karte", body);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }
        async Task<JsonObject?> RowAsync(string id) =>
            (await OutboxTestKit.GetJsonAsync(admin, "/v1/projects/stranded/activities?limit=100"))["activities"]!.AsArray()
                .Select(r => r!.AsObject()).FirstOrDefault(r => (string?)r["deliveryId"] == id);

        // The dispatcher is active and idle after a first delivery.
        await PostAsync("first");
        await OutboxTestKit.AdvanceUntilAsync(app, async () => (string?)(await RowAsync("first"))?["status"] == "delivered", what: "first delivered");

        // A second row is claimed under a lease of an activation that then vanished.
        await PostAsync("second");
        var store = app.Services.GetRequiredService<IOutboxStore>();
        var claimed = await store.ClaimAsync("stranded", OutboxKind.Activities, 10, 1, Guid.NewGuid(), app.Time.GetUtcNow(),
            app.Time.GetUtcNow() + TimeSpan.FromMinutes(5));
        Assert.Equal("second", Assert.Single(claimed).DeliveryId);
        for (var i = 0; i < 5; i++)
        {
            app.Time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(50);
        }
        Assert.Equal("in_flight", (string?)(await RowAsync("second"))!["status"]);

        // The scan finds it in flight while the live activation drains nothing: it goes back and is sent.
        await app.Services.GetRequiredService<OutboxWorkScanner>().ScanOnceAsync();
        var started = app.Time.GetUtcNow();
        await OutboxTestKit.AdvanceUntilAsync(app, async () => (string?)(await RowAsync("second"))?["status"] == "delivered",
            what: "second delivered after the scan");
        Assert.True(app.Time.GetUtcNow() - started < TimeSpan.FromSeconds(30), $"took {app.Time.GetUtcNow() - started} of test time");
        Assert.Equal(2, sandbox.Counters.ActivitiesAdded.Count);
        Assert.Equal(2, sandbox.Counters.ActivitiesAdded.Select(a => a.PrimaryAttributeValue).Distinct().Count());
        Assert.False((bool?)(await RowAsync("second"))!["possibleDuplicate"]);    // it had never been marked as sending
    }
}
