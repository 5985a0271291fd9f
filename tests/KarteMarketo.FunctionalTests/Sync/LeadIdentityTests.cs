using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KarteMarketo.Contracts;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.MarketoSandbox;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Orleans.Runtime;
using static KarteMarketo.FunctionalTests.Sync.SyncTestKit;

namespace KarteMarketo.FunctionalTests.Sync;

/// <summary>
/// The lead identity rules (API.md, second part) over real HTTP against sandboxes: a lead id belongs to its Marketo
/// instance, the latest email wins, gone leads go, at most 100 users per key, and a resync of every known key.
/// </summary>
public sealed class LeadIdentityTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    private static readonly TimeSpan BatchDelay = TimeSpan.FromMilliseconds(1000);

    private static Action<JsonObject> WithPurchaseMapping(int typeId, Action<JsonObject>? more = null) => Settings(batchDelayMs: 1000, more: settings =>
    {
        settings["activityMappings"] = new JsonArray(new JsonObject
        {
            ["event"] = "purchase",
            ["activityTypeId"] = typeId,
            ["primaryAttribute"] = "item_name",
            ["attributes"] = new JsonObject(),
        });
        more?.Invoke(settings);
    });

    private static JsonObject Purchase(string id, string userId, string? email = null)
    {
        var body = new JsonObject
        {
            ["id"] = id,
            ["userId"] = userId,
            ["event"] = "purchase",
            ["values"] = new JsonObject { ["item_name"] = "Coat" },
            ["timestamp"] = "2026-11-28T10:00:00+09:00",
        };
        if (email is not null) body["email"] = email;
        return body;
    }

    private static async Task PostKarteWebhookAsync(SyncTestKit kit, JsonObject body)
    {
        using var response = await kit.Events.PostAsJsonAsync($"/v1/projects/{kit.ProjectId}/webhooks/karte", body);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    private static async Task<string[]> PostMarketoWebhookAsync(SyncTestKit kit, JsonObject body)
    {
        using var client = kit.App.CreateClient();
        client.DefaultRequestHeaders.Add("X-Webhook-Secret", kit.Project.WebhookSecret);
        using var response = await client.PostAsJsonAsync($"/v1/projects/{kit.ProjectId}/webhooks/marketo", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {text}");
        return [.. JsonNode.Parse(text)!["users"]!.AsArray().Select(u => (string)u!).Order(StringComparer.Ordinal)];
    }

    private static async Task PutSettingsAsync(SyncTestKit kit, SandboxServer marketo, Action<JsonObject> customize)
    {
        var settings = new JsonObject
        {
            ["marketo"] = new JsonObject
            {
                ["clientId"] = marketo.ClientId,
                ["clientSecret"] = marketo.ClientSecret,
                ["endpoint"] = marketo.RestEndpoint.ToString().TrimEnd('/'),
                ["identity"] = marketo.IdentityEndpoint.ToString().TrimEnd('/'),
            },
        };
        customize(settings);
        using var response = await kit.Admin.PutAsJsonAsync($"/v1/projects/{kit.ProjectId}/settings", settings);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Moving_to_another_instance_forgets_its_lead_ids_at_once_and_looks_every_key_up_on_the_new_one()
    {
        var oldIds = new Dictionary<string, long>();
        int oldType = 0;
        await using var kit = await StartAsync(app, "id-move", null, seed: s =>
        {
            oldType = s.AddActivityType("karte_purchase", "KARTE purchase", "itemName");
            for (var i = 0; i < 5; i++) oldIds[$"mover-{i}"] = s.SeedLead($"mover{i}@example.com", ("firstName", $"Old{i}"));
        });
        await PutSettingsAsync(kit, kit.Sandbox, WithPurchaseMapping(oldType));

        // The new instance holds the same people under other ids; the old ids belong to strangers there.
        await using var production = await SandboxServer.StartAsync(timeProvider: app.Time);
        var newType = production.State.AddActivityType("karte_purchase", "KARTE purchase", "itemName");
        for (var i = 0; i < 7; i++) production.State.SeedLead($"stranger{i}@example.com");
        var newIds = Enumerable.Range(0, 5).ToDictionary(i => $"mover-{i}", i => production.State.SeedLead($"mover{i}@example.com", ("firstName", $"New{i}")));
        Assert.Contains(oldIds["mover-0"], production.State.Leads.Select(l => l.Id));   // a stranger's id there

        await kit.SendAsync([.. Enumerable.Range(0, 5).Select(i => Identify($"mover-{i}", $"mover{i}@example.com"))]);
        await kit.AdvanceUntilAsync(BatchDelay, async () => LeadIdOf(await kit.GetUserAsync("mover-4")) == oldIds["mover-4"], "synced on the old instance");
        Assert.Equal(["mover-0"], await PostMarketoWebhookAsync(kit, new JsonObject { ["leadId"] = oldIds["mover-0"] }));

        int OldInstanceWork() => kit.Sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads)
            + kit.Sandbox.Counters.CallsTo(SandboxEndpointNames.AddCustomActivities);
        await PutSettingsAsync(kit, production, WithPurchaseMapping(newType));
        var oldWork = OldInstanceWork();

        // At once: no user shows an old lead (the resync may already have found the new one), and an old id matches nobody.
        for (var i = 0; i < 5; i++) Assert.NotEqual(oldIds[$"mover-{i}"], LeadIdOf(await kit.GetUserAsync($"mover-{i}")));
        Assert.Empty(await PostMarketoWebhookAsync(kit, new JsonObject { ["leadId"] = oldIds["mover-0"] }));

        // Every known key is looked up on the new instance by itself (a resync: one call for the five).
        await kit.AdvanceUntilAsync(TimeSpan.FromSeconds(1), async () =>
        {
            foreach (var (user, id) in newIds)
                if (LeadIdOf(await kit.GetUserAsync(user)) != id) return false;
            return true;
        }, "looked up again on the new instance", diagnostics: () => kit.DumpAsync("mover-0"));
        Assert.Equal(1, production.Counters.CallsTo(SandboxEndpointNames.GetLeads));

        // Activities by user id carry the new ids, on the new instance only.
        await PostKarteWebhookAsync(kit, Purchase("evt-move-0", "mover-0"));
        await PostKarteWebhookAsync(kit, Purchase("evt-move-1", "mover-1", "mover1@example.com"));
        await kit.AdvanceUntilAsync(TimeSpan.FromSeconds(1), () => Task.FromResult(production.Counters.ActivitiesAdded.Count == 2),
            "activities on the new instance");
        Assert.Equal([newIds["mover-0"], newIds["mover-1"]], production.Counters.ActivitiesAdded.Select(a => a.LeadId).Order().ToArray());
        Assert.Equal(oldWork, OldInstanceWork());     // no lookup or activity ever reached the old instance again
        Assert.DoesNotContain(kit.Sandbox.Counters.ActivitiesAdded, a => true);
        Assert.Equal(["mover-2"], await PostMarketoWebhookAsync(kit, new JsonObject { ["leadId"] = newIds["mover-2"] }));
    }

    [Fact]
    public async Task The_latest_email_wins_for_every_purpose_and_users_sharing_an_email_both_stay_linked()
    {
        long oldLead = 0, newLead = 0;
        int type = 0;
        await using var kit = await StartAsync(app, "id-latest", null, seed: s =>
        {
            type = s.AddActivityType("karte_purchase", "KARTE purchase", "itemName");
            oldLead = s.SeedLead("old@example.com");
            newLead = s.SeedLead("new@example.com");
        });
        await PutSettingsAsync(kit, kit.Sandbox, WithPurchaseMapping(type));

        await kit.SendAsync([Identify("changer", "old@example.com"), Identify("sharer", "old@example.com")]);
        await kit.AdvanceUntilAsync(BatchDelay, async () => LeadIdOf(await kit.GetUserAsync("changer")) == oldLead, "synced by the old email");
        Assert.Equal(["changer", "sharer"], await PostMarketoWebhookAsync(kit, new JsonObject { ["email"] = "old@example.com" }));

        await kit.SendAsync([Identify("changer", "new@example.com")]);
        await kit.AdvanceUntilAsync(BatchDelay, async () => LeadIdOf(await kit.GetUserAsync("changer")) == newLead, "synced by the new email");

        // User info, webhooks by email, activities by user id, segments: the new email only.
        var changer = (await kit.GetUserAsync("changer"))!;
        Assert.Equal("email", (string?)changer["sync"]!["key"]);
        Assert.Equal(["sharer"], await PostMarketoWebhookAsync(kit, new JsonObject { ["email"] = "old@example.com" }));
        Assert.Equal(["changer"], await PostMarketoWebhookAsync(kit, new JsonObject { ["email"] = "new@example.com" }));
        Assert.Equal(oldLead, LeadIdOf(await kit.GetUserAsync("sharer")));
        Assert.Equal(2, await kit.SegmentCountAsync("marketo-lead-synced"));

        // The old key's results never reach the user again (it flipped between two leads before).
        await kit.AdvanceAsync(TimeSpan.FromSeconds(86_400));
        await kit.SendAsync([Identify("sharer", "old@example.com")]);
        await kit.AdvanceUntilAsync(BatchDelay, async () => (string?)(await kit.GetUserAsync("sharer"))!["sync"]!["lastRequestAt"] is { } at
            && DateTimeOffset.Parse(at) >= app.Time.GetUtcNow() - TimeSpan.FromSeconds(10) && LastResultOf(await kit.GetUserAsync("sharer")) == "synced",
            "the old key looked up again");
        Assert.Equal(newLead, LeadIdOf(await kit.GetUserAsync("changer")));

        // A KARTE webhook with only the user id goes to the lead of the user's current email.
        await PostKarteWebhookAsync(kit, Purchase("evt-latest", "changer"));
        await kit.AdvanceUntilAsync(TimeSpan.FromSeconds(1), () => Task.FromResult(kit.Sandbox.Counters.ActivitiesAdded.Count == 1), "activity sent");
        Assert.Equal(newLead, Assert.Single(kit.Sandbox.Counters.ActivitiesAdded).LeadId);
    }

    [Fact]
    public async Task A_gone_lead_leaves_its_users_and_a_1004_on_an_activity_looks_the_lead_up_again_once()
    {
        long goneLead = 0, mergedFrom = 0;
        int type = 0;
        await using var kit = await StartAsync(app, "id-gone", null, seed: s =>
        {
            type = s.AddActivityType("karte_purchase", "KARTE purchase", "itemName");
            goneLead = s.SeedLead("gone@example.com");
            mergedFrom = s.SeedLead("merged@example.com");
        });
        await PutSettingsAsync(kit, kit.Sandbox, WithPurchaseMapping(type, settings => settings["marketo"]!["munchkinPrivateKey"] = "private-key-0123"));

        await kit.SendAsync([Identify("gone-user", "gone@example.com"), Identify("merged-user", "merged@example.com")]);
        await kit.AdvanceUntilAsync(BatchDelay, async () => LeadIdOf(await kit.GetUserAsync("gone-user")) == goneLead
            && LeadIdOf(await kit.GetUserAsync("merged-user")) == mergedFrom, "both synced");
        Assert.NotNull((string?)(await kit.GetUserAsync("gone-user"))!["identify"]!["marketo_hash"]);

        // Merged in Marketo: the id the key cached is gone, the person lives on under another id. The activity goes to
        // the cached id first, gets 1004, and the lead is looked up again once.
        Assert.True(kit.Sandbox.State.DeleteLead(mergedFrom));
        var mergedInto = kit.Sandbox.State.SeedLead("merged@example.com");
        var lookups = kit.LookupCalls;
        await PostKarteWebhookAsync(kit, Purchase("evt-merged", "merged-user"));
        await kit.AdvanceUntilAsync(TimeSpan.FromSeconds(1), () => Task.FromResult(kit.Sandbox.Counters.ActivitiesAdded.Count == 1),
            "activity sent to the lead it was merged into", diagnostics: () => kit.DumpAsync("merged-user"));
        Assert.Equal(mergedInto, Assert.Single(kit.Sandbox.Counters.ActivitiesAdded).LeadId);
        Assert.Equal(lookups + 1, kit.LookupCalls);
        Assert.Equal(mergedInto, LeadIdOf(await kit.GetUserAsync("merged-user")));

        // Deleted in Marketo: the next lookup (a resync here) finds nothing, and the user loses the lead.
        Assert.True(kit.Sandbox.State.DeleteLead(goneLead));
        using (var resync = await kit.Admin.PostAsJsonAsync($"/v1/projects/{kit.ProjectId}/sync/resync", new JsonObject { ["scope"] = "all" }))
            Assert.Equal(HttpStatusCode.Accepted, resync.StatusCode);
        await kit.AdvanceUntilAsync(TimeSpan.FromSeconds(1), async () => LastResultOf(await kit.GetUserAsync("gone-user")) == "notFound",
            "the gone lead noticed", diagnostics: () => kit.DumpAsync("gone-user"));
        var gone = (await kit.GetUserAsync("gone-user"))!;
        Assert.False(gone["identify"]!.AsObject().ContainsKey("marketo"));
        Assert.False(gone["identify"]!.AsObject().ContainsKey("marketo_hash"));
        var segment = await kit.GetSegmentAsync("marketo-lead-synced");
        Assert.Equal(["merged-user"], segment["users"]!.AsArray().Select(u => (string)u!).ToArray());
    }

    [Fact]
    public async Task At_most_a_hundred_users_stay_linked_to_one_key_the_oldest_dropped_first_and_said_in_status()
    {
        long lead = 0;
        await using var kit = await StartAsync(app, "id-bound", Settings(batchDelayMs: 1000), seed: s => lead = s.SeedLead("family@example.com"));
        await kit.SendAsync([Identify("member-000", "family@example.com")]);
        await kit.AdvanceUntilAsync(BatchDelay, async () => LeadIdOf(await kit.GetUserAsync("member-000")) == lead, "first member synced");
        for (var i = 1; i < 105; i++) await kit.SendAsync([Identify($"member-{i:D3}", "family@example.com")]);

        var linked = await PostMarketoWebhookAsync(kit, new JsonObject { ["email"] = "family@example.com" });
        Assert.Equal(100, linked.Length);
        Assert.Equal("member-005", linked[0]);              // member-000 … member-004 were the oldest
        Assert.Null(LeadIdOf(await kit.GetUserAsync("member-004")));
        Assert.Equal(lead, LeadIdOf(await kit.GetUserAsync("member-104")));
        Assert.Equal(5, (int?)(await kit.GetUserAsync("member-104"))!["sync"]!["linksDropped"]);
        Assert.Equal(100, await kit.SegmentCountAsync("marketo-lead-synced"));

        // The links are the user store's: a new activation of the key reads the same 100 users from it, oldest first.
        var keyGrainId = $"lead-key/{GrainKeys.LeadKey(kit.ProjectId, LeadKeyType.Email, "family@example.com")}";
        var management = app.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0);
        await WaitUntilAsync(async () =>
        {
            await management.ForceActivationCollection(TimeSpan.Zero);
            return !(await management.GetDetailedGrainStatistics()).Any(g => g.GrainId.ToString() == keyGrainId);
        }, "the key grain deactivated");
        Assert.Equal(linked, await PostMarketoWebhookAsync(kit, new JsonObject { ["email"] = "family@example.com" }));
        Assert.Equal(5, (int?)(await kit.GetUserAsync("member-104"))!["sync"]!["linksDropped"]);
    }

    [Fact]
    public async Task Resync_looks_every_known_key_up_again_in_batches_and_refuses_another_scope()
    {
        await using var kit = await StartAsync(app, "id-resync", Settings(batchDelayMs: 1000, realtime: false), seed: s =>
        {
            for (var i = 0; i < 450; i++) s.SeedLead($"known{i}@example.com");
        });
        await kit.SendAsync([.. Enumerable.Range(0, 450).Select(i => Identify($"known-{i}", $"known{i}@example.com",
            i < 10 ? $"id:123-ABC-456&token:_mch-example.com-1700000000000-{i:D5}" : null))]);

        using (var bad = await kit.Admin.PostAsJsonAsync($"/v1/projects/{kit.ProjectId}/sync/resync", new JsonObject { ["scope"] = "some" }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
            Assert.Contains("scope", await bad.Content.ReadAsStringAsync());
        }
        Assert.Equal(0, kit.LookupCalls);

        using var response = await kit.Admin.PostAsJsonAsync($"/v1/projects/{kit.ProjectId}/sync/resync", new JsonObject { ["scope"] = "all" });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(460, (int)body["keys"]!);
        Assert.Equal(3, (int)body["estimatedCalls"]!);      // 450 emails: 2 calls; 10 cookies: 1

        await kit.AdvanceUntilAsync(TimeSpan.FromSeconds(1), async () => await kit.SegmentCountAsync("marketo-lead-synced") == 450,
            "every known key looked up");
        await WaitUntilAsync(() => Task.FromResult(kit.LookupCalls == 3), "three lookups");
        kit.AssertMarketoLimitsKept();
    }
}
