using System.Text.Json.Nodes;
using KarteMarketo.Contracts;
using KarteMarketo.Grains.Flows.KarteWriteBack;
using KarteMarketo.Grains.Identity;
using KarteMarketo.Grains.Outbox;
using KarteMarketo.IntegrationTests.Infrastructure;
using Npgsql;

namespace KarteMarketo.IntegrationTests.KarteWriteBack;

/// <summary>
/// The KARTE writes a sync result queues in the user store's own commit, on both implementations: exactly the stored
/// identify values, only on change (ignoring <c>_karte_last_sync_date</c>), never for a result the store did not apply;
/// a gone lead once.
/// </summary>
public abstract class KarteQueueContractTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    protected abstract IUserStore Users { get; }
    protected abstract IOutboxStore Outbox { get; }
    protected abstract IKarteWriteQueue Queue { get; }

    private static string NewProject() => "k" + Guid.NewGuid().ToString("N")[..10];

    private static UserSyncUpdate Update(LeadKeyType by, long leadId, string firstName, DateTimeOffset at, bool onlyOnChange = true) =>
        new(by, leadId, new JsonObject
        {
            ["marketo"] = new JsonObject { ["id"] = leadId, ["firstName"] = firstName, ["_karte_last_sync_date"] = at.ToUnixTimeSeconds() },
        }.ToJsonString(), at) { Karte = new KarteUserInfoWrite(onlyOnChange) };

    private async Task<IReadOnlyList<OutboxRow>> RowsAsync(string project) =>
        [.. (await Outbox.ListAsync(project, OutboxKind.Karte, null, 1000)).OrderBy(r => r.Id)];

    [Fact]
    public async Task A_sync_result_queues_its_identify_values_once_and_again_only_when_they_change()
    {
        var p = NewProject();
        await Users.ApplySyncResultAsync(p, ["u1", "u2"], Update(LeadKeyType.Email, 7, "Ann", At));
        var rows = await RowsAsync(p);
        Assert.Equal(["u1", "u2"], rows.Select(r => r.UserId));
        var stored = JsonNode.Parse((await Users.GetUserInfoAsync(p, "u1"))!.IdentifyJson!);
        Assert.Equal("identify", (string?)rows[0].Payload["event_name"]);
        Assert.True(JsonNode.DeepEquals(stored, rows[0].Payload["values"]));

        // Same lead, later sync: only _karte_last_sync_date moved.
        await Users.ApplySyncResultAsync(p, ["u1", "u2"], Update(LeadKeyType.Email, 7, "Ann", At.AddHours(1)));
        Assert.Equal(2, (await RowsAsync(p)).Count);

        await Users.ApplySyncResultAsync(p, ["u1"], Update(LeadKeyType.Email, 7, "Anne", At.AddHours(2)));
        rows = await RowsAsync(p);
        Assert.Equal(3, rows.Count);
        Assert.Equal("Anne", (string?)rows[2].Payload["values"]!["marketo"]!["firstName"]);
    }

    [Fact]
    public async Task A_result_the_store_does_not_apply_is_not_written_and_without_only_on_change_every_result_is()
    {
        var p = NewProject();
        await Users.ApplySyncResultAsync(p, ["u1"], Update(LeadKeyType.Email, 7, "Ann", At));
        // A lead found by cookie never replaces one found by email.
        await Users.ApplySyncResultAsync(p, ["u1"], Update(LeadKeyType.Cookie, 8, "Other", At.AddMinutes(1)));
        Assert.Single(await RowsAsync(p));

        await Users.ApplySyncResultAsync(p, ["u1"], Update(LeadKeyType.Email, 7, "Ann", At.AddMinutes(2), onlyOnChange: false));
        await Users.ApplySyncResultAsync(p, ["u1"], Update(LeadKeyType.Email, 7, "Ann", At.AddMinutes(3), onlyOnChange: false));
        Assert.Equal(3, (await RowsAsync(p)).Count);

        // No KARTE instruction (the project does not write to KARTE): nothing queued.
        await Users.ApplySyncResultAsync(p, ["u1"], Update(LeadKeyType.Email, 7, "Bob", At.AddMinutes(4)) with { Karte = null });
        Assert.Equal(3, (await RowsAsync(p)).Count);
    }

    [Fact]
    public async Task A_gone_lead_is_queued_once_and_events_always()
    {
        var p = NewProject();
        await Users.ApplySyncResultAsync(p, ["u1"], Update(LeadKeyType.Email, 7, "Ann", At));
        KarteQueuedWrite Gone(int n) => new($"gone:{n}:u1", "u1", "identify", KarteWritePayload.GoneValues())
            { ValuesHash = KarteWritePayload.GoneHash, OnlyOnChange = true };
        Assert.Equal(1, await Queue.EnqueueAsync(p, [Gone(1)], At));
        Assert.Equal(0, await Queue.EnqueueAsync(p, [Gone(2)], At));
        var ev = new KarteQueuedWrite("ev:1:u1", "u1", "marketo_email_open", new JsonObject { ["campaign"] = "c" });
        Assert.Equal(1, await Queue.EnqueueAsync(p, [ev], At));
        Assert.Equal(0, await Queue.EnqueueAsync(p, [ev], At));     // same delivery id

        var rows = await RowsAsync(p);
        Assert.Equal(3, rows.Count);
        Assert.True(JsonNode.DeepEquals(KarteWritePayload.GoneValues(), rows[1].Payload["values"]));
        Assert.Equal("marketo_email_open", (string?)rows[2].Payload["event_name"]);

        // A lead found again is written again, and so is a later gone.
        await Users.ApplySyncResultAsync(p, ["u1"], Update(LeadKeyType.Email, 9, "Ann", At.AddDays(1)));
        Assert.Equal(1, await Queue.EnqueueAsync(p, [Gone(3)], At));
        Assert.Equal(5, (await RowsAsync(p)).Count);
    }
}

public sealed class PostgresKarteQueueContractTests(MigratedDatabaseFixture fixture)
    : KarteQueueContractTests, IClassFixture<MigratedDatabaseFixture>, IDisposable
{
    private readonly NpgsqlDataSource _dataSource = NpgsqlDataSource.Create(fixture.Database.ConnectionString);

    protected override IUserStore Users => new PostgresUserStore(_dataSource);
    protected override IOutboxStore Outbox => new PostgresOutboxStore(_dataSource);
    protected override IKarteWriteQueue Queue => new PostgresKarteWriteQueue(_dataSource);

    public void Dispose() => _dataSource.Dispose();
}

public sealed class InMemoryKarteQueueContractTests : KarteQueueContractTests
{
    private readonly InMemoryOutboxStore _outbox = new();
    private readonly InMemoryKarteWriteQueue _queue;
    private readonly InMemoryUserStore _users;

    public InMemoryKarteQueueContractTests()
    {
        _queue = new InMemoryKarteWriteQueue(_outbox);
        _users = new InMemoryUserStore(_queue);
    }

    protected override IUserStore Users => _users;
    protected override IOutboxStore Outbox => _outbox;
    protected override IKarteWriteQueue Queue => _queue;
}
