using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KarteMarketo.IntegrationTests.Infrastructure;
using Npgsql;

namespace KarteMarketo.IntegrationTests.Outbox;

/// <summary>
/// With PostgreSQL out of reach, the webhook and lead endpoints answer 503 problem+json: nothing is accepted that was
/// not stored. Once it is back, the same request is accepted and delivered once.
/// </summary>
public sealed class OutboxOutageTests
{
    [Fact]
    public async Task Requests_arriving_while_postgres_is_unreachable_get_503_and_a_retry_afterwards_is_delivered_once()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        var target = new NpgsqlConnectionStringBuilder(db.ConnectionString);
        await using var cutter = new TcpCutter(target.Host!, target.Port);
        var throughCutter = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Host = "127.0.0.1", Port = cutter.Port }.ConnectionString;

        var flow = await OutboxFlow.StartSandboxAsync(leads: 2);
        await using var sandbox = flow.Sandbox;
        await using var host = await HostProcess.StartAsync(OutboxFlow.HostOptions(throughCutter, 0, 0, 0));
        await flow.CreateProjectAsync(host);
        using var client = host.CreateClient(flow.ApiKey);
        var purchase = new JsonObject
        {
            ["id"] = "evt-outage", ["userId"] = "u-1", ["email"] = OutboxFlow.Email(1), ["event"] = "purchase",
            ["values"] = new JsonObject { ["item_name"] = "item-1", ["amount"] = 1 },
        };
        var path = $"/v1/projects/{OutboxFlow.ProjectId}/webhooks/karte";

        cutter.Cut();
        try
        {
            foreach (var (requestPath, body) in new (string, JsonNode)[]
                     {
                         (path, purchase),
                         ($"/v1/projects/{OutboxFlow.ProjectId}/leads", new JsonObject { ["email"] = "new@example.com" }),
                     })
            {
                using var response = await client.PostAsJsonAsync(requestPath, body);
                Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            }
            using var webhook = host.CreateClient();
            webhook.DefaultRequestHeaders.Add("X-Webhook-Secret", flow.WebhookSecret);
            using var marketo = await webhook.PostAsJsonAsync($"/v1/projects/{OutboxFlow.ProjectId}/webhooks/marketo",
                new { email = "someone@example.com", activity = "Clicked Link" });
            Assert.Equal(HttpStatusCode.ServiceUnavailable, marketo.StatusCode);
            Assert.Equal("application/problem+json", marketo.Content.Headers.ContentType?.MediaType);
        }
        finally
        {
            cutter.Restore();
        }

        // Npgsql drops broken pooled connections as it meets them: the first requests after the outage may still fail.
        HttpStatusCode status = default;
        await OutboxFlow.WaitUntilAsync(async () =>
        {
            using var response = await client.PostAsJsonAsync(path, purchase);
            status = response.StatusCode;
            return status == HttpStatusCode.Accepted;
        }, TimeSpan.FromSeconds(60), "accepted after the outage");

        await OutboxFlow.WaitUntilAsync(async () => (await flow.AddedItemsAsync()).Contains("item-1"), TimeSpan.FromSeconds(60), "delivered");
        Assert.Equal(["item-1"], await flow.AddedItemsAsync());
        Assert.Equal(1, await db.ScalarAsync<int>("SELECT count(*) FROM outbox_messages"));
        Assert.Equal(0, await db.ScalarAsync<int>("SELECT count(*) FROM outbox_messages WHERE kind = 'leads'"));
        Assert.Equal(0, await db.ScalarAsync<int>("SELECT count(*) FROM webhook_events"));
    }
}
