using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;

using KarteMarketo.FunctionalTests.Sync;

namespace KarteMarketo.FunctionalTests.KarteWriteBack;

/// <summary>Marketo webhook events reach KARTE (the stand-in, over real HTTP) for every linked user, including users
/// who link to the event's key later; names KARTE reserves are refused at the webhook.</summary>
public sealed class MarketoEventWriteTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    private static async Task<HttpResponseMessage> PostWebhookAsync(SyncTestKit kit, string json)
    {
        using var client = kit.App.CreateClient();
        client.DefaultRequestHeaders.Add("X-Webhook-Secret", kit.Project.WebhookSecret);
        return await client.PostAsync($"/v1/projects/{kit.ProjectId}/webhooks/marketo", new StringContent(json, Encoding.UTF8, "application/json"));
    }

    private static async Task<JsonArray> UserEventsAsync(SyncTestKit kit, string userId) =>
        (await Outbox.OutboxTestKit.GetJsonAsync(kit.Admin, $"/v1/projects/{kit.ProjectId}/users/{userId}/events?limit=100"))["events"]!.AsArray();

    private static IReadOnlyList<MarketoSandbox.Karte.KarteReceivedEvent> Clicks(SyncTestKit kit, string userId) =>
        [.. kit.ReceivedFor(userId).Where(e => e.EventName == "marketo_email_click")];

    [Fact]
    public async Task A_webhook_is_written_once_for_each_linked_user_with_the_values_its_events_show()
    {
        await using var kit = await SyncTestKit.StartWithKarteAsync(app, "kw-webhook");
        await kit.SendAsync([SyncTestKit.Identify("w1", "ann@example.com"), SyncTestKit.Identify("w2", "ann@example.com"),
            SyncTestKit.Identify("w3", "bob@example.com")]);

        using var response = await PostWebhookAsync(kit, """
            { "email": "ann@example.com", "event_name": "marketo_email_click", "campaign": "Winter", "dateTime": "2026-11-28 06:30:00" }
            """);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await kit.AdvanceInStepsUntilAsync(() => Clicks(kit, "w1").Count == 1 && Clicks(kit, "w2").Count == 1, "the event written for both users");
        await kit.RunForAsync(TimeSpan.FromSeconds(5));

        foreach (var user in new[] { "w1", "w2" })
        {
            var written = Assert.Single(Clicks(kit, user));
            var shown = Assert.Single(await UserEventsAsync(kit, user))!;
            Assert.True(JsonNode.DeepEquals(shown["values"], written.Values), $"{written.Values.ToJsonString()} vs {shown["values"]!.ToJsonString()}");
        }
        Assert.Empty(Clicks(kit, "w3"));

        // Marketo repeating the same delivery writes nothing more.
        using var again = await PostWebhookAsync(kit, """
            { "email": "ann@example.com", "event_name": "marketo_email_click", "campaign": "Winter", "dedupe_key": "d-1" }
            """);
        using var repeat = await PostWebhookAsync(kit, """
            { "email": "ann@example.com", "event_name": "marketo_email_click", "campaign": "Winter", "dedupe_key": "d-1" }
            """);
        await kit.AdvanceInStepsUntilAsync(() => Clicks(kit, "w1").Count == 2 && Clicks(kit, "w2").Count == 2, "the second event");
        await kit.RunForAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(2, Clicks(kit, "w1").Count);
        Assert.Equal(2, Clicks(kit, "w2").Count);
    }

    [Fact]
    public async Task A_reserved_event_name_is_refused_with_400_and_nothing_is_recorded_or_written()
    {
        await using var kit = await SyncTestKit.StartWithKarteAsync(app, "kw-reserved");
        await kit.SendAsync([SyncTestKit.Identify("r1", "ann@example.com")]);
        var callsBefore = kit.Karte.Calls;     // the settings' token check

        using var response = await PostWebhookAsync(kit, """{ "email": "ann@example.com", "event_name": "view", "page": "x" }""");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("event_name", await response.Content.ReadAsStringAsync());
        await kit.RunForAsync(TimeSpan.FromSeconds(5));
        Assert.Empty(await UserEventsAsync(kit, "r1"));
        Assert.DoesNotContain(kit.Karte.Received, e => e.EventName == "view");
        Assert.Equal(callsBefore, kit.Karte.Calls);
    }

    [Fact]
    public async Task An_event_kept_against_a_key_is_written_when_a_user_links_to_that_key()
    {
        await using var kit = await SyncTestKit.StartWithKarteAsync(app, "kw-later");
        using var response = await PostWebhookAsync(kit, """{ "email": "later@example.com", "event_name": "marketo_email_click", "campaign": "Spring" }""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await kit.RunForAsync(TimeSpan.FromSeconds(3));
        Assert.Empty(kit.Karte.Received);

        await kit.SendAsync([SyncTestKit.Identify("late-user", "later@example.com")]);
        await kit.AdvanceInStepsUntilAsync(() => Clicks(kit, "late-user").Count == 1, "the kept event written for the new user");
        // Identifying again (no new link) writes it no second time.
        await kit.SendAsync([SyncTestKit.Identify("late-user", "later@example.com")]);
        await kit.RunForAsync(TimeSpan.FromSeconds(5));
        var written = Assert.Single(Clicks(kit, "late-user"));
        Assert.Equal("Spring", (string?)written.Values["campaign"]);
    }
}
