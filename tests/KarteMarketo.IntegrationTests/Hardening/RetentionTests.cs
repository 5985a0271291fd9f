using System.Text.Json.Nodes;
using KarteMarketo.Grains.Background;
using KarteMarketo.Grains.Flows.MarketoActivities;
using KarteMarketo.Grains.Outbox;
using KarteMarketo.Grains.Storage;
using KarteMarketo.IntegrationTests.Infrastructure;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace KarteMarketo.IntegrationTests.Hardening;

/// <summary>
/// <c>Retention:Days</c> (API.md, "A hardened host", Bounds), checked on both storage modes with the same steps: webhook
/// events received, and outbox rows (lead upserts, custom activities, KARTE writes) delivered, longer ago than the
/// retention are deleted in bounded chunks on a clock the test moves; younger ones, and rows not delivered (pending,
/// failed) however old, stay.
/// </summary>
public abstract class RetentionContractTests
{
    private static readonly DateTimeOffset T0 = new(2026, 10, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly OutboxKind[] Kinds = [OutboxKind.Leads, OutboxKind.Activities, OutboxKind.Karte];

    protected abstract IOutboxStore Outbox { get; }
    protected abstract IWebhookEventStore Events { get; }
    protected abstract IRetentionStore Retention { get; }

    private readonly string project = "ret-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task Old_events_and_delivered_rows_go_in_bounded_chunks_young_and_undelivered_ones_stay()
    {
        // At T0: 5 events and, per kind, 5 delivered rows, 1 failed and 1 pending (next attempt far away).
        // At T0 + 20 days: 1 event and 1 delivered row per kind.
        for (var i = 0; i < 5; i++) await RecordEventAsync($"old-{i}", T0.AddMinutes(i));
        await RecordEventAsync("young", T0.AddDays(20));
        foreach (var kind in Kinds)
        {
            await AddRowsAsync(kind, [.. Enumerable.Range(0, 5).Select(i => $"old-{i}")], OutboxStatus.Delivered, T0);
            await AddRowsAsync(kind, ["old-failed"], OutboxStatus.Failed, T0);
            await AddRowsAsync(kind, ["old-pending"], OutboxStatus.Pending, T0);
            await AddRowsAsync(kind, ["young"], OutboxStatus.Delivered, T0.AddDays(20));
        }

        // Retention 30 days; at most 2 chunks of 2 rows per kind and scan.
        var time = new FakeTimeProvider(T0.AddDays(29));
        var job = new DataRetention(Retention, new StartedLifetime(), time,
            Options.Create(new RetentionOptions { Days = 30, ChunkSize = 2, MaxChunksPerScan = 2 }), NullLogger<DataRetention>.Instance);

        // Nothing is 30 days old yet.
        Assert.Equal(0, await job.ScanOnceAsync());

        time.Advance(TimeSpan.FromDays(2)); // T0 + 31 days: the T0 rows have expired, the T0 + 20 days ones have not
        Assert.Equal(4 * 4, await job.ScanOnceAsync()); // 4 of 5 in each of the four kinds of data: the chunk bound
        Assert.Equal(1 * 4, await job.ScanOnceAsync()); // the rest at the next scan
        Assert.Equal(0, await job.ScanOnceAsync());

        Assert.Equal(["young"], await EventNamesAsync());
        foreach (var kind in Kinds)
        {
            var rows = await Outbox.ListAsync(project, kind, null, 100);
            Assert.Equal(["old-failed", "old-pending", "young"], rows.Select(r => r.DeliveryId).Order());
        }
        // A delivery id whose row expired is new again (nothing remembers it), as an event's idempotency key is.
        Assert.Equal(["old-0"], await Outbox.EnqueueAsync(project, OutboxKind.Leads, [Entry("old-0")], time.GetUtcNow()));
        Assert.True((await RecordEventAsync("old-0", time.GetUtcNow())).Created);
    }

    private Task<WebhookRecordResult> RecordEventAsync(string name, DateTimeOffset at) =>
        Events.RecordAsync(new NewWebhookEvent(project, name, name, new JsonObject { ["n"] = name }, "ret@example.com", null, null,
            ["u-ret"], at, null));

    private async Task<List<string>> EventNamesAsync() =>
        [.. (await Events.ListForUserAsync(project, "u-ret", UserEventKeys.None, 100)).Select(e => e.EventName)];

    private async Task AddRowsAsync(OutboxKind kind, string[] deliveryIds, string status, DateTimeOffset at)
    {
        await Outbox.EnqueueAsync(project, kind, [.. deliveryIds.Select(Entry)], at);
        var lease = Guid.NewGuid();
        var claimed = await Outbox.ClaimAsync(project, kind, deliveryIds.Length, 1, lease, at, at.AddMinutes(5));
        Assert.Equal(deliveryIds.Order(), claimed.Select(r => r.DeliveryId).Order());
        await Outbox.CompleteAsync(lease, [.. claimed.Select(r => status == OutboxStatus.Delivered
            ? new OutboxOutcome(r.Id, status, 1, at) { DeliveredAt = at }
            : new OutboxOutcome(r.Id, status, 1, at.AddYears(1)))], at);
    }

    private static OutboxEntry Entry(string id) => new(id, "u-" + id, $"{id}@example.com", new JsonObject { ["n"] = id });

    /// <summary><see cref="DataRetention.ScanOnceAsync"/> is called directly; the lifetime only matters to the loop.</summary>
    private sealed class StartedLifetime : IHostApplicationLifetime
    {
        public CancellationToken ApplicationStarted => new(canceled: true);
        public CancellationToken ApplicationStopping => CancellationToken.None;
        public CancellationToken ApplicationStopped => CancellationToken.None;
        public void StopApplication() { }
    }
}

/// <summary>On PostgreSQL (a freshly migrated database of its own: retention deletes across projects).</summary>
public sealed class PostgresRetentionTests(MigratedDatabaseFixture fixture)
    : RetentionContractTests, IClassFixture<MigratedDatabaseFixture>, IDisposable
{
    private readonly NpgsqlDataSource _dataSource = NpgsqlDataSource.Create(fixture.Database.ConnectionString);

    protected override IOutboxStore Outbox => new PostgresOutboxStore(_dataSource);
    protected override IWebhookEventStore Events => new PostgresWebhookEventStore(_dataSource);
    protected override IRetentionStore Retention => new PostgresRetentionStore(_dataSource);

    [Fact]
    public async Task The_chunk_queries_use_the_retention_indexes()
    {
        await using var connection = await _dataSource.OpenConnectionAsync();
        // A planner on near-empty tables prefers a sequential scan whatever the indexes; take that choice away.
        await using (var off = new NpgsqlCommand("SET enable_seqscan = off", connection)) await off.ExecuteNonQueryAsync();
        Assert.Contains("webhook_events_received_at", await PlanAsync(connection,
            "SELECT id FROM webhook_events WHERE received_at < now() ORDER BY received_at LIMIT 10"));
        Assert.Contains("outbox_messages_delivered_at", await PlanAsync(connection,
            "SELECT id FROM outbox_messages WHERE status = 'delivered' AND kind = 'karte' AND delivered_at < now() ORDER BY delivered_at LIMIT 10"));
    }

    private static async Task<string> PlanAsync(NpgsqlConnection connection, string sql)
    {
        await using var explain = new NpgsqlCommand("EXPLAIN " + sql, connection);
        var lines = new List<string>();
        await using var reader = await explain.ExecuteReaderAsync();
        while (await reader.ReadAsync()) lines.Add(reader.GetString(0));
        return string.Join('\n', lines);
    }

    public void Dispose() => _dataSource.Dispose();
}

/// <summary>On the embedded default's memory stores.</summary>
public sealed class InMemoryRetentionTests : RetentionContractTests
{
    private readonly InMemoryOutboxStore _outbox = new();
    private readonly InMemoryWebhookEventStore _events = new();

    protected override IOutboxStore Outbox => _outbox;
    protected override IWebhookEventStore Events => _events;
    protected override IRetentionStore Retention => new InMemoryRetentionStore(_outbox, _events);
}
