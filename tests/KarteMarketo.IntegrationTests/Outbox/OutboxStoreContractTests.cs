using System.Text.Json.Nodes;
using KarteMarketo.Grains.Background;
using KarteMarketo.Grains.Flows.MarketoActivities;
using KarteMarketo.Grains.Outbox;
using KarteMarketo.Grains.Flows.CustomActivities;
using KarteMarketo.Grains.Flows.LeadUpserts;
using KarteMarketo.IntegrationTests.Infrastructure;
using Npgsql;

namespace KarteMarketo.IntegrationTests.Outbox;

/// <summary>
/// What the dispatchers and endpoints rely on from the stores, checked on both implementations: PostgreSQL (a migrated
/// database) and the embedded default's memory stores.
/// </summary>
public abstract class OutboxStoreContractTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    protected abstract IOutboxStore Outbox { get; }
    protected abstract IWebhookEventStore Events { get; }

    private static OutboxEntry Entry(string id, string? email = null) =>
        new(id, "u-" + id, email ?? $"{id}@example.com", new JsonObject { ["n"] = id });

    [Fact]
    public async Task A_delivery_id_is_stored_once_per_project_and_kind()
    {
        var first = await Outbox.EnqueueAsync("p1", OutboxKind.Activities, [Entry("a"), Entry("b"), Entry("a")], T0);
        var again = await Outbox.EnqueueAsync("p1", OutboxKind.Activities, [Entry("b"), Entry("c")], T0);
        var otherKind = await Outbox.EnqueueAsync("p1", OutboxKind.Leads, [Entry("a")], T0);
        var otherProject = await Outbox.EnqueueAsync("p2", OutboxKind.Activities, [Entry("a")], T0);

        Assert.Equal(["a", "b"], first.Order());
        Assert.Equal(["c"], again);
        Assert.Equal(["a"], otherKind);
        Assert.Equal(["a"], otherProject);
        Assert.Equal(3, (await Outbox.ListAsync("p1", OutboxKind.Activities, null, 100)).Count);
    }

    [Fact]
    public async Task A_claim_takes_due_rows_oldest_first_and_none_when_fewer_than_the_minimum()
    {
        await Outbox.EnqueueAsync("c1", OutboxKind.Activities, [.. Enumerable.Range(0, 5).Select(i => Entry($"r{i}"))], T0);

        Assert.Empty(await Outbox.ClaimAsync("c1", OutboxKind.Activities, 10, 6, Guid.NewGuid(), T0, T0.AddMinutes(5)));
        var lease = Guid.NewGuid();
        var claimed = await Outbox.ClaimAsync("c1", OutboxKind.Activities, 3, 1, lease, T0, T0.AddMinutes(5));
        Assert.Equal(["r0", "r1", "r2"], claimed.Select(r => r.DeliveryId));
        Assert.All(claimed, r => Assert.Equal((OutboxStatus.InFlight, lease), (r.Status, r.LeaseId!.Value)));
        var rest = await Outbox.ClaimAsync("c1", OutboxKind.Activities, 10, 1, Guid.NewGuid(), T0, T0.AddMinutes(5));
        Assert.Equal(["r3", "r4"], rest.Select(r => r.DeliveryId));
        Assert.Empty(await Outbox.ClaimAsync("c1", OutboxKind.Activities, 10, 1, Guid.NewGuid(), T0, T0.AddMinutes(5)));
    }

    [Fact]
    public async Task Outcomes_apply_only_under_the_claim_s_lease_and_retries_wait_for_their_time()
    {
        await Outbox.EnqueueAsync("o1", OutboxKind.Leads, [Entry("x"), Entry("y")], T0);
        var lease = Guid.NewGuid();
        var rows = await Outbox.ClaimAsync("o1", OutboxKind.Leads, 10, 1, lease, T0, T0.AddMinutes(5));
        var x = rows.Single(r => r.DeliveryId == "x");
        var y = rows.Single(r => r.DeliveryId == "y");

        // A stale claimer (another lease) changes nothing.
        await Outbox.CompleteAsync(Guid.NewGuid(), [new OutboxOutcome(x.Id, OutboxStatus.Failed, 9, T0)], T0);
        await Outbox.CompleteAsync(lease,
        [
            new OutboxOutcome(x.Id, OutboxStatus.Delivered, 1, T0)
                { LeadId = 42, SyncedAt = T0, Result = new JsonObject { ["status"] = "created" }, DeliveredAt = T0 },
            new OutboxOutcome(y.Id, OutboxStatus.Pending, 1, T0.AddSeconds(30)) { ErrorCode = "611", ErrorMessage = "System error" },
        ], T0);

        var delivered = Assert.Single(await Outbox.ListAsync("o1", OutboxKind.Leads, [OutboxStatus.Delivered], 10));
        Assert.Equal((42L, 1, "created"), (delivered.LeadId!.Value, delivered.Attempts, (string)delivered.Result!["status"]!));
        Assert.Null(delivered.LeaseId);
        var pending = Assert.Single(await Outbox.ListAsync("o1", OutboxKind.Leads, [OutboxStatus.Pending], 10));
        Assert.Equal(("611", "System error"), (pending.ErrorCode, pending.ErrorMessage));
        Assert.Equal(T0.AddSeconds(30), await Outbox.NextDueAsync("o1", OutboxKind.Leads));

        Assert.Empty(await Outbox.ClaimAsync("o1", OutboxKind.Leads, 10, 1, Guid.NewGuid(), T0.AddSeconds(29), T0.AddMinutes(5)));
        Assert.Single(await Outbox.ClaimAsync("o1", OutboxKind.Leads, 10, 1, Guid.NewGuid(), T0.AddSeconds(30), T0.AddMinutes(5)));
    }

    [Fact]
    public async Task A_karte_write_waits_while_an_earlier_write_of_its_user_is_held_elsewhere_or_waits_for_a_retry()
    {
        static OutboxEntry Of(string id, string user) => new(id, user, null, new JsonObject { ["n"] = id });
        await Outbox.EnqueueAsync("k1", OutboxKind.Karte, [Of("a1", "ua"), Of("b1", "ub")], T0);
        // A dispatcher on a host that then died holds the first rows until its lease ends.
        var dead = Guid.NewGuid();
        Assert.Equal(2, (await Outbox.ClaimAsync("k1", OutboxKind.Karte, 10, 1, dead, T0, T0.AddMinutes(1))).Count);
        await Outbox.EnqueueAsync("k1", OutboxKind.Karte, [Of("a2", "ua"), Of("c1", "uc")], T0.AddSeconds(1));

        // The next dispatcher takes the other user's row, not the one that would overtake a1.
        var next = await Outbox.ClaimAsync("k1", OutboxKind.Karte, 10, 1, Guid.NewGuid(), T0.AddSeconds(2), T0.AddMinutes(5));
        Assert.Equal(["c1"], next.Select(r => r.DeliveryId));

        // Once the dead lease ends, the user's rows come back in their order.
        var back = await Outbox.ClaimAsync("k1", OutboxKind.Karte, 10, 1, Guid.NewGuid(), T0.AddMinutes(1), T0.AddMinutes(6));
        Assert.Equal(["a1", "b1", "a2"], back.Select(r => r.DeliveryId));

        // A retry waiting for its time holds its user's later rows too.
        var lease = back[0].LeaseId!.Value;
        await Outbox.CompleteAsync(lease,
        [
            new OutboxOutcome(back[0].Id, OutboxStatus.Pending, 1, T0.AddMinutes(3)) { ErrorCode = "429" },
            new OutboxOutcome(back[1].Id, OutboxStatus.Delivered, 1, T0.AddMinutes(1)) { DeliveredAt = T0.AddMinutes(1) },
            new OutboxOutcome(back[2].Id, OutboxStatus.Pending, 0, T0.AddMinutes(1)),
        ], T0.AddMinutes(1));
        Assert.Empty(await Outbox.ClaimAsync("k1", OutboxKind.Karte, 10, 1, Guid.NewGuid(), T0.AddMinutes(2), T0.AddMinutes(7)));
        Assert.Equal(["a1", "a2"], (await Outbox.ClaimAsync("k1", OutboxKind.Karte, 10, 1, Guid.NewGuid(), T0.AddMinutes(3), T0.AddMinutes(8)))
            .Select(r => r.DeliveryId));

        // Other kinds keep no order per user: a later activity of the same user goes while an earlier one is held.
        await Outbox.EnqueueAsync("k1", OutboxKind.Activities, [Of("x1", "ua")], T0);
        Assert.Single(await Outbox.ClaimAsync("k1", OutboxKind.Activities, 10, 1, Guid.NewGuid(), T0, T0.AddMinutes(5)));
        await Outbox.EnqueueAsync("k1", OutboxKind.Activities, [Of("x2", "ua")], T0);
        Assert.Equal(["x2"], (await Outbox.ClaimAsync("k1", OutboxKind.Activities, 10, 1, Guid.NewGuid(), T0, T0.AddMinutes(5))).Select(r => r.DeliveryId));
    }

    [Fact]
    public async Task Rows_of_a_vanished_claimer_come_back_and_those_that_were_being_sent_are_flagged()
    {
        await Outbox.EnqueueAsync("r1", OutboxKind.Activities, [Entry("sent"), Entry("unsent")], T0);
        var lease = Guid.NewGuid();
        var rows = await Outbox.ClaimAsync("r1", OutboxKind.Activities, 10, 1, lease, T0, T0.AddMinutes(5));
        await Outbox.MarkSendingAsync(lease, [rows.Single(r => r.DeliveryId == "sent").Id], T0);
        Assert.Contains(new OutboxWork("r1", OutboxKind.Activities), await Outbox.FindWorkAsync(T0));

        Assert.Equal(2, await Outbox.RecoverAsync("r1", OutboxKind.Activities, T0.AddSeconds(1)));

        var back = await Outbox.ClaimAsync("r1", OutboxKind.Activities, 10, 1, Guid.NewGuid(), T0.AddSeconds(1), T0.AddMinutes(5));
        Assert.True(back.Single(r => r.DeliveryId == "sent").PossibleDuplicate);
        Assert.False(back.Single(r => r.DeliveryId == "unsent").PossibleDuplicate);
    }

    [Fact]
    public async Task An_expired_lease_lets_another_claimer_take_the_rows()
    {
        await Outbox.EnqueueAsync("l1", OutboxKind.Activities, [Entry("z")], T0);
        var first = Guid.NewGuid();
        var rows = await Outbox.ClaimAsync("l1", OutboxKind.Activities, 10, 1, first, T0, T0.AddMinutes(5));
        await Outbox.MarkSendingAsync(first, [rows[0].Id], T0);

        Assert.Empty(await Outbox.ClaimAsync("l1", OutboxKind.Activities, 10, 1, Guid.NewGuid(), T0.AddMinutes(4), T0.AddMinutes(9)));
        var second = Guid.NewGuid();
        var taken = Assert.Single(await Outbox.ClaimAsync("l1", OutboxKind.Activities, 10, 1, second, T0.AddMinutes(5), T0.AddMinutes(10)));
        Assert.True(taken.PossibleDuplicate);
        // The first claimer learns, before sending again, that the row is no longer its own.
        Assert.Equal(0, await Outbox.MarkSendingAsync(first, [taken.Id], T0.AddMinutes(5)));
        Assert.Equal(1, await Outbox.MarkSendingAsync(second, [taken.Id], T0.AddMinutes(5)));

        // The first claimer's late answer is ignored; the second's counts.
        await Outbox.CompleteAsync(first, [new OutboxOutcome(taken.Id, OutboxStatus.Failed, 1, T0)], T0.AddMinutes(6));
        await Outbox.CompleteAsync(second, [new OutboxOutcome(taken.Id, OutboxStatus.Delivered, 1, T0) { DeliveredAt = T0 }], T0.AddMinutes(6));
        Assert.Equal(OutboxStatus.Delivered, Assert.Single(await Outbox.ListAsync("l1", OutboxKind.Activities, null, 10)).Status);
    }

    [Theory]
    [InlineData(OutboxKind.Activities)]
    [InlineData(OutboxKind.Karte)]
    public async Task Retrying_puts_failed_rows_back_pending_due_now_with_attempts_reset_and_touches_nothing_else(OutboxKind kind)
    {
        var project = "retry-" + kind.ToKeyword();
        await Outbox.EnqueueAsync(project, kind, [Entry("f1"), Entry("f2"), Entry("f3"), Entry("ok"), Entry("later")], T0);
        await Outbox.EnqueueAsync(project + "-other", kind, [Entry("f1")], T0);
        var lease = Guid.NewGuid();
        var rows = (await Outbox.ClaimAsync(project, kind, 10, 1, lease, T0, T0.AddMinutes(5))).ToDictionary(r => r.DeliveryId);
        OutboxOutcome Failed(string id) => new(rows[id].Id, OutboxStatus.Failed, 10, T0) { ErrorCode = "1013", ErrorMessage = "Activity type not found" };
        await Outbox.CompleteAsync(lease,
        [
            Failed("f1"), Failed("f2"), Failed("f3"),
            new OutboxOutcome(rows["ok"].Id, OutboxStatus.Delivered, 1, T0) { DeliveredAt = T0 },
            new OutboxOutcome(rows["later"].Id, OutboxStatus.Pending, 2, T0.AddHours(1)),
        ], T0);
        var otherLease = Guid.NewGuid();
        var other = Assert.Single(await Outbox.ClaimAsync(project + "-other", kind, 10, 1, otherLease, T0, T0.AddMinutes(5)));
        await Outbox.CompleteAsync(otherLease, [new OutboxOutcome(other.Id, OutboxStatus.Failed, 10, T0)], T0);

        // Ids of rows that are not failed (or of another project) are ignored: only f1 comes back.
        var retryAt = T0.AddMinutes(10);
        Assert.Equal(1, await Outbox.RetryFailedAsync(project, kind, [rows["f1"].Id, rows["ok"].Id, rows["later"].Id, other.Id], 100, retryAt));
        var f1 = (await Outbox.ListAsync(project, kind, null, 10)).Single(r => r.DeliveryId == "f1");
        Assert.Equal((OutboxStatus.Pending, 0), (f1.Status, f1.Attempts));
        // Due now, though "later" (pending, due in an hour) still waits for its time.
        var claimed = await Outbox.ClaimAsync(project, kind, 10, 1, Guid.NewGuid(), retryAt, retryAt.AddMinutes(5));
        Assert.Equal(["f1"], claimed.Select(r => r.DeliveryId));

        // Without ids: every failed row of the project and kind, up to the limit.
        Assert.Equal(1, await Outbox.RetryFailedAsync(project, kind, null, 1, retryAt));
        Assert.Equal(1, await Outbox.RetryFailedAsync(project, kind, null, 100, retryAt));
        Assert.Equal(0, await Outbox.RetryFailedAsync(project, kind, null, 100, retryAt));
        var counts = await Outbox.CountByStatusAsync(project, kind);
        Assert.False(counts.ContainsKey(OutboxStatus.Failed));
        Assert.Equal(1, counts[OutboxStatus.Delivered]);
        Assert.Equal(OutboxStatus.Failed, Assert.Single(await Outbox.ListAsync(project + "-other", kind, null, 10)).Status);
        // The other kind of the same project is untouched.
        Assert.Equal(0, await Outbox.RetryFailedAsync(project, kind == OutboxKind.Karte ? OutboxKind.Activities : OutboxKind.Karte, null, 100, retryAt));
    }

    [Fact]
    public async Task Cookie_associations_are_remembered_per_project_and_instance()
    {
        Assert.Null(await Outbox.GetCookieAssociationAsync("k1", "111-AAA-111", "_mch-a"));
        await Outbox.RecordCookieAssociationAsync("k1", "111-AAA-111", "_mch-a", 7, T0);
        await Outbox.RecordCookieAssociationAsync("k1", "111-AAA-111", "_mch-a", 8, T0);
        Assert.Equal(8, await Outbox.GetCookieAssociationAsync("k1", "111-AAA-111", "_mch-a"));
        Assert.Null(await Outbox.GetCookieAssociationAsync("k2", "111-AAA-111", "_mch-a"));
        // A lead id of one instance says nothing about another.
        Assert.Null(await Outbox.GetCookieAssociationAsync("k1", "222-BBB-222", "_mch-a"));
    }

    [Fact]
    public async Task Webhook_events_are_recorded_once_per_key_and_found_by_user_or_by_a_key_the_user_links_later()
    {
        NewWebhookEvent Event(string? dedupe, string name, string? email, long? lead, string? cookie, string[] users, int minute) =>
            new("e1", dedupe, name, new JsonObject { ["activity"] = name }, email, lead, cookie, users, T0.AddMinutes(minute), null);

        var first = await Events.RecordAsync(Event("k-1", "one", "a@example.com", null, null, ["u-a"], 0));
        var repeat = await Events.RecordAsync(Event("k-1", "one-again", "a@example.com", null, null, ["u-other"], 1));
        Assert.True(first.Created);
        Assert.False(repeat.Created);
        Assert.Equal(["u-a"], repeat.UserIds);
        await Events.RecordAsync(Event(null, "by-lead", null, 99, null, [], 2));
        await Events.RecordAsync(Event(null, "by-cookie", null, null, "id:1&token:c", [], 3));
        await Events.RecordAsync(Event(null, "elsewhere", "b@example.com", null, null, [], 4));

        var direct = await Events.ListForUserAsync("e1", "u-a", UserEventKeys.None, 10);
        Assert.Equal(["one"], direct.Select(e => e.EventName));
        var linked = await Events.ListForUserAsync("e1", "u-new", new UserEventKeys(["a@example.com"], ["id:1&token:c"], [99]), 10);
        Assert.Equal(["by-cookie", "by-lead", "one"], linked.Select(e => e.EventName));
        Assert.Equal("by-cookie", (string)linked[0].Values["activity"]!);
        Assert.Equal(["by-cookie"], (await Events.ListForUserAsync("e1", "u-new", new UserEventKeys(["a@example.com"], ["id:1&token:c"], [99]), 1))
            .Select(e => e.EventName));
        Assert.Empty(await Events.ListForUserAsync("other-project", "u-a", new UserEventKeys(["a@example.com"], [], []), 10));
    }
}

/// <summary>The contract on PostgreSQL (migrations 0110 and 0120 on a fresh database).</summary>
public sealed class PostgresOutboxStoreContractTests(MigratedDatabaseFixture fixture)
    : OutboxStoreContractTests, IClassFixture<MigratedDatabaseFixture>, IDisposable
{
    private readonly NpgsqlDataSource _dataSource = NpgsqlDataSource.Create(fixture.Database.ConnectionString);

    protected override IOutboxStore Outbox => new PostgresOutboxStore(_dataSource);
    protected override IWebhookEventStore Events => new PostgresWebhookEventStore(_dataSource);
    private static readonly DateTimeOffset At = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    /// <summary>The store as seen from the silo named <paramref name="holder"/> (claims record it).</summary>
    private PostgresOutboxStore OutboxOn(string holder) => new(_dataSource, new SiloHolder(holder));

    private static OutboxEntry Entry(string id) => new(id, "u-" + id, $"{id}@example.com", new JsonObject { ["n"] = id });

    [Fact]
    public async Task Rows_claimed_on_a_silo_declared_dead_go_back_once_and_its_lease_is_void()
    {
        var project = "held-" + Guid.NewGuid().ToString("N")[..8];
        var dead = OutboxOn("silo-dead@1");
        var alive = OutboxOn("silo-alive@1");
        await dead.EnqueueAsync(project, OutboxKind.Activities, [Entry("a"), Entry("b")], At);
        await dead.EnqueueAsync(project, OutboxKind.Leads, [Entry("c")], At);
        var lease = Guid.NewGuid();
        var claimed = await dead.ClaimAsync(project, OutboxKind.Activities, 10, 1, lease, At, At.AddMinutes(5));
        Assert.Equal(1, await dead.MarkSendingAsync(lease, [claimed[0].Id], At));     // "a" may have reached Marketo
        var liveLease = Guid.NewGuid();
        Assert.Single(await alive.ClaimAsync(project, OutboxKind.Leads, 10, 1, liveLease, At, At.AddMinutes(5)));

        var work = await alive.TakeOverAsync(["silo-dead@1", "never-seen@1"], At.AddSeconds(5));

        Assert.Equal([new OutboxWork(project, OutboxKind.Activities)], work);
        var rows = await alive.ListAsync(project, OutboxKind.Activities, null, 10);
        Assert.All(rows, r => Assert.Equal(OutboxStatus.Pending, r.Status));
        Assert.True(rows.Single(r => r.DeliveryId == "a").PossibleDuplicate);
        Assert.False(rows.Single(r => r.DeliveryId == "b").PossibleDuplicate);
        // The dead claimer's lease is gone: it can neither mark nor complete; the live silo's claim is untouched.
        Assert.Equal(0, await dead.MarkSendingAsync(lease, [.. claimed.Select(r => r.Id)], At.AddSeconds(6)));
        Assert.Equal(OutboxStatus.InFlight, (await alive.ListAsync(project, OutboxKind.Leads, null, 10)).Single().Status);
        // Nothing is taken over twice, and rows due again are claimed as usual.
        Assert.Empty(await alive.TakeOverAsync(["silo-dead@1"], At.AddSeconds(7)));
        Assert.Equal(2, (await alive.ClaimAsync(project, OutboxKind.Activities, 10, 1, Guid.NewGuid(), At.AddSeconds(8), At.AddMinutes(6))).Count);
    }

    private static OutboxEntry Entry(string id, string? email = null) =>
        new(id, "u-" + id, email ?? $"{id}@example.com", new JsonObject { ["n"] = id });


    public void Dispose() => _dataSource.Dispose();
}

/// <summary>The same contract on the embedded default's memory stores.</summary>
public sealed class InMemoryOutboxStoreContractTests : OutboxStoreContractTests
{
    protected override IOutboxStore Outbox { get; } = new InMemoryOutboxStore();
    protected override IWebhookEventStore Events { get; } = new InMemoryWebhookEventStore();

    [Fact]
    public async Task Rows_claimed_by_a_holder_declared_dead_go_back_to_pending()
    {
        var store = new InMemoryOutboxStore(new SiloHolder("silo-a@1"));
        var at = new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
        await store.EnqueueAsync("p", OutboxKind.Leads, [new OutboxEntry("x", null, "x@example.com", new JsonObject())], at);
        Assert.Single(await store.ClaimAsync("p", OutboxKind.Leads, 10, 1, Guid.NewGuid(), at, at.AddMinutes(5)));

        Assert.Empty(await store.TakeOverAsync(["silo-b@1"], at));
        Assert.Equal([new OutboxWork("p", OutboxKind.Leads)], await store.TakeOverAsync(["silo-a@1"], at));
        Assert.Equal(OutboxStatus.Pending, (await store.ListAsync("p", OutboxKind.Leads, null, 10)).Single().Status);
        Assert.Empty(await store.TakeOverAsync(["silo-a@1"], at));
    }
}
