using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.Grains.Flows.MarketoActivities;
using KarteMarketo.Grains.Outbox;
using Microsoft.Extensions.DependencyInjection;

namespace KarteMarketo.FunctionalTests.Hardening;

/// <summary>
/// The retention job as the host runs it (embedded default, the host's own stores, the test's clock): once
/// <c>Retention:Days</c> have passed, the next scan (every <c>Retention:ScanInterval</c> on that clock) deletes the
/// expired webhook events and delivered outbox rows; the store-level rules are in the integration suite's
/// <c>RetentionContractTests</c>, on both storage modes.
/// </summary>
public sealed class RetentionJobTests
{
    private sealed class RetentionFactory : KarteMarketoAppFactory
    {
        public RetentionFactory(string days = "7")
        {
            Settings["Retention:Days"] = days;
            Settings["Retention:ScanInterval"] = "00:10:00";
        }
    }

    [Fact]
    public async Task A_retention_below_one_day_refuses_to_start()
    {
        await using var app = new RetentionFactory(days: "0");

        var error = Record.Exception(() => app.CreateClient());

        Assert.Contains("Days", Assert.IsType<Microsoft.Extensions.Options.OptionsValidationException>(error).Message);
    }

    [Fact]
    public async Task The_host_deletes_what_expired_at_its_next_scan_on_the_clock_and_keeps_what_did_not()
    {
        await using var app = new RetentionFactory();
        using var _ = app.CreateClient(); // starts the host (and its first scan)
        var events = app.Services.GetRequiredService<IWebhookEventStore>();
        var outbox = app.Services.GetRequiredService<IOutboxStore>();
        var t0 = app.Time.GetUtcNow();

        // All written before the clock moves (a moved clock wakes the outbox scan, which must find nothing to claim);
        // "young" carries times 5 days later.
        await RecordAsync(events, "old", t0);
        await DeliverAsync(outbox, "old", t0, t0);
        await RecordAsync(events, "young", t0.AddDays(5));
        await DeliverAsync(outbox, "young", t0, t0.AddDays(5));

        // Past 7 days for "old" (not for "young"); then the clock moves a scan interval at a time until a scan ran.
        app.Time.Advance(TimeSpan.FromDays(7) + TimeSpan.FromMinutes(1));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        // One scan deletes the events first, then the outbox rows: wait for both.
        while ((await NamesAsync(events)).Contains("old") || (await DeliveryIdsAsync(outbox)).Contains("old"))
        {
            Assert.True(DateTime.UtcNow < deadline, "no scan deleted the expired event and row");
            app.Time.Advance(TimeSpan.FromMinutes(10));
            await Task.Delay(20); // lets the job's loop, woken by the clock, run on the thread pool
        }

        Assert.Equal(["young"], await NamesAsync(events));
        Assert.Equal(["young"], await DeliveryIdsAsync(outbox));
    }

    private static async Task<List<string>> DeliveryIdsAsync(IOutboxStore outbox) =>
        [.. (await outbox.ListAsync("retention", OutboxKind.Karte, null, 10)).Select(r => r.DeliveryId)];

    private static Task RecordAsync(IWebhookEventStore events, string name, DateTimeOffset at) =>
        events.RecordAsync(new NewWebhookEvent("retention", name, name, new JsonObject(), null, null, null, ["u-1"], at, null));

    private static async Task<List<string>> NamesAsync(IWebhookEventStore events) =>
        [.. (await events.ListForUserAsync("retention", "u-1", UserEventKeys.None, 10)).Select(e => e.EventName)];

    private static async Task DeliverAsync(IOutboxStore outbox, string id, DateTimeOffset now, DateTimeOffset deliveredAt)
    {
        // Queued as due a year from now, so the host's own outbox scan (on the same clock) finds nothing to claim first.
        var at = now.AddYears(1);
        await outbox.EnqueueAsync("retention", OutboxKind.Karte, [new OutboxEntry(id, "u-1", null, new JsonObject())], at);
        var lease = Guid.NewGuid();
        var row = Assert.Single(await outbox.ClaimAsync("retention", OutboxKind.Karte, 10, 1, lease, at, at.AddMinutes(5)));
        await outbox.CompleteAsync(lease, [new OutboxOutcome(row.Id, OutboxStatus.Delivered, 1, at) { DeliveredAt = deliveredAt }], at);
    }
}
