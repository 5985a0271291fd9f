using System.Net;
using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.Grains.Outbox;
using Microsoft.Extensions.DependencyInjection;

namespace KarteMarketo.FunctionalTests.Hardening;

/// <summary>List responses are at most 8 MiB (API.md, "A hardened host", Bounds), over HTTP: 150 stored lead upserts
/// of about 60 KiB each would be a 9 MB answer; it comes cut to the newest that fit, saying so.</summary>
public sealed class ListResponseCapHttpTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    private const int Rows = 150;
    private const int MaxBytes = 8 * 1024 * 1024;

    [Fact]
    public async Task A_list_over_8_MiB_keeps_the_newest_rows_that_fit_and_says_truncated()
    {
        // A project whose Marketo is a closed local port: saving stores the settings whatever the credential check says.
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var closed = new Uri($"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/");
        listener.Stop();
        await app.CreateProjectAsync("cap", new Uri(closed, "rest"), new Uri(closed, "identity"), "cap-client", "cap-secret");
        var outbox = app.Services.GetRequiredService<IOutboxStore>();
        // Queued as due a year from now, so the host's own outbox scan (on the same clock) finds nothing to claim first.
        var at = app.Time.GetUtcNow().AddYears(1);
        var big = new string('x', 60 * 1024);
        var entries = Enumerable.Range(0, Rows)
            .Select(i => new OutboxEntry($"lead-{i:000}", $"u-{i}", $"u{i}@example.com", new JsonObject
            {
                ["email"] = $"u{i}@example.com",
                ["fields"] = new JsonObject { ["note"] = big },
            }))
            .ToList();
        await outbox.EnqueueAsync("cap", OutboxKind.Leads, entries, at);
        // Delivered under this test's lease, so no dispatcher has anything to do with them.
        var lease = Guid.NewGuid();
        var claimed = await outbox.ClaimAsync("cap", OutboxKind.Leads, Rows, Rows, lease, at, at.AddMinutes(5));
        await outbox.CompleteAsync(lease, [.. claimed.Select(r => new OutboxOutcome(r.Id, OutboxStatus.Delivered, 1, at) { DeliveredAt = at })], at);

        using var admin = app.CreateAdminClient();
        using var response = await admin.GetAsync("/v1/projects/cap/leads?limit=1000");
        var bytes = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(bytes.Length <= MaxBytes, $"{bytes.Length} bytes");
        Assert.Equal(bytes.Length, response.Content.Headers.ContentLength);
        var body = JsonNode.Parse(bytes)!.AsObject();
        Assert.True((bool)body["truncated"]!);
        var leads = body["leads"]!.AsArray();
        // Every row that is there is whole, and they are the newest, in the list's own order.
        Assert.InRange(leads.Count, 100, Rows - 1);
        Assert.Equal(Enumerable.Range(0, leads.Count).Select(i => $"lead-{Rows - 1 - i:000}"), leads.Select(l => (string)l!["deliveryId"]!));
        Assert.All(leads, l => Assert.Equal(big, (string)l!["fields"]!["note"]!));

        // Under the cap nothing changes: no "truncated".
        using var small = await admin.GetAsync("/v1/projects/cap/leads?limit=10");
        var smallBody = JsonNode.Parse(await small.Content.ReadAsStringAsync())!.AsObject();
        Assert.Equal(10, smallBody["leads"]!.AsArray().Count);
        Assert.False(smallBody.ContainsKey("truncated"));
    }
}
