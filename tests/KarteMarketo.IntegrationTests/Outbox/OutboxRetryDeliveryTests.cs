using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KarteMarketo.IntegrationTests.Infrastructure;

namespace KarteMarketo.IntegrationTests.Outbox;

/// <summary>
/// Retrying by hand on PostgreSQL, with real processes (host and sandbox with its KARTE stand-in): a custom activity and
/// a KARTE write that failed (one attempt allowed) are put back by the retry endpoints, the rows turn pending, and both
/// reach their remote once.
/// </summary>
public sealed class OutboxRetryDeliveryTests
{
    private const string Project = "retry-it";

    [Fact]
    public async Task A_failed_activity_and_a_failed_KARTE_write_are_retried_and_delivered()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        // Mapped to an activity type Marketo does not know yet: it answers 1013 for the activity, which fails it.
        const int unknownActivityType = 200_001;
        var flow = await OutboxFlow.StartSandboxAsync(leads: 1);
        await using var sandbox = flow.Sandbox;
        var options = OutboxFlow.HostOptions(db.ConnectionString, 0, 0, 0);
        var settings = new Dictionary<string, string?>(options.Settings)
        {
            // One attempt: the first refusal fails the row, which then waits for a person.
            ["Outbox__MaxAttempts"] = "1",
            ["Outbound__AllowPrivateAddresses"] = "true",
        };
        await using var host = await HostProcess.StartAsync(options with { Settings = settings });
        using var control = new HttpClient { BaseAddress = sandbox.BaseAddress };

        var project = ProjectSettingsClient.Settings("sandbox-client", sandbox.BaseAddress);
        project["activityMappings"] = new JsonArray(new JsonObject
        {
            ["event"] = "purchase", ["activityTypeId"] = unknownActivityType, ["primaryAttribute"] = "item_name",
        });
        project["karte"] = new JsonObject
        {
            ["enabled"] = true, ["endpoint"] = new Uri(sandbox.BaseAddress, "karte").ToString(), ["appToken"] = "karte-sandbox-app-token",
        };
        var apiKey = (string)(await ProjectSettingsClient.PutAsync(host, Project, project))["apiKey"]!;

        // KARTE answers 500 to the next write.
        (await control.PostAsJsonAsync("/karte/_karte/faults", new { kind = "ServerError", count = 1, status = 500 })).EnsureSuccessStatusCode();

        using (var events = host.CreateClient(apiKey))
        {
            Assert.Equal(HttpStatusCode.Accepted, (await events.PostAsJsonAsync($"/v1/projects/{Project}/events", new JsonObject
            {
                ["userId"] = "u-0", ["event"] = "identify", ["values"] = new JsonObject { ["email"] = OutboxFlow.Email(0) },
            })).StatusCode);
            Assert.Equal(HttpStatusCode.Accepted, (await events.PostAsJsonAsync($"/v1/projects/{Project}/webhooks/karte", new JsonObject
            {
                ["id"] = "evt-retry", ["userId"] = "u-0", ["email"] = OutboxFlow.Email(0), ["event"] = "purchase",
                ["values"] = new JsonObject { ["item_name"] = "item-retry" },
            })).StatusCode);
        }
        try
        {
            await OutboxFlow.WaitUntilAsync(async () => await FailedAsync(db, "activities") == 1 && await FailedAsync(db, "karte") == 1,
                TimeSpan.FromSeconds(60), "the activity and the KARTE write failed");
        }
        catch (TimeoutException e)
        {
            var rows = await db.ScalarAsync<string>(
                "SELECT coalesce(string_agg(kind || ':' || status || ':' || attempts || ':' || coalesce(error_message, ''), ' | '), 'none') FROM outbox_messages");
            throw new TimeoutException($"{e.Message}; rows: {rows}; host output: {host.Output[^Math.Min(4000, host.Output.Length)..]}");
        }
        Assert.Empty(await flow.AddedItemsAsync());
        Assert.Equal(0, await ReceivedIdentifiesAsync(control));

        // The causes are fixed: the activity type now exists at Marketo (KARTE's fault was for one call only).
        (await control.PostAsJsonAsync("/_sandbox/activity-types", new
        {
            id = unknownActivityType, apiName = "purchase", name = "Purchase", primaryAttribute = "item_name",
        })).EnsureSuccessStatusCode();
        using var admin = host.CreateAdminClient();
        foreach (var path in new[] { "activities/retry", "karte-writes/retry" })
        {
            using var retried = await admin.PostAsync($"/v1/projects/{Project}/{path}", null);
            Assert.Equal(HttpStatusCode.Accepted, retried.StatusCode);
            Assert.Equal(1, (int)JsonNode.Parse(await retried.Content.ReadAsStringAsync())!["retried"]!);
        }
        // Put back: no longer failed, attempts started again (pending, or already sent again).
        Assert.Equal(0, await FailedAsync(db, "activities") + await FailedAsync(db, "karte"));

        await OutboxFlow.WaitUntilAsync(async () =>
                await db.ScalarAsync<long>($"SELECT count(*) FROM outbox_messages WHERE project_id = '{Project}' AND status = 'delivered'") == 2,
            TimeSpan.FromSeconds(60), "both delivered after the retry");
        Assert.Equal(["item-retry"], await flow.AddedItemsAsync());
        Assert.Equal(1, await ReceivedIdentifiesAsync(control));
        Assert.Equal(1, await db.ScalarAsync<int>(
            $"SELECT max(attempts) FROM outbox_messages WHERE project_id = '{Project}'"));
        // The lookup results were counted and stored (grain storage in PostgreSQL) on the tally's timer.
        await OutboxFlow.WaitUntilAsync(async () => await db.ScalarAsync<long>(
                "SELECT count(*) FROM orleansstorage WHERE graintypestring = 'sync-results-state' AND payloadbinary IS NOT NULL") == 1,
            TimeSpan.FromSeconds(30), "the sync results tally stored");
        // Nothing left to retry.
        using var again = await admin.PostAsync($"/v1/projects/{Project}/karte-writes/retry", null);
        Assert.Equal(0, (int)JsonNode.Parse(await again.Content.ReadAsStringAsync())!["retried"]!);
    }

    private static Task<long> FailedAsync(TestDatabase db, string kind) =>
        db.ScalarAsync<long>($"SELECT count(*) FROM outbox_messages WHERE project_id = '{Project}' AND kind = '{kind}' AND status = 'failed'");

    /// <summary>Identify events the KARTE stand-in accepted for u-0.</summary>
    private static async Task<int> ReceivedIdentifiesAsync(HttpClient control)
    {
        var received = JsonNode.Parse(await control.GetStringAsync("/karte/_karte/received?userId=u-0"))!;
        return received["received"]!.AsArray().Count(r => (string?)r!["eventName"] == "identify");
    }
}
