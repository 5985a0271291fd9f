using KarteMarketo.Contracts;
using KarteMarketo.Grains.Background;
using KarteMarketo.Grains.Flows.LeadSync;
using KarteMarketo.IntegrationTests.Infrastructure;
using Npgsql;

namespace KarteMarketo.IntegrationTests.Sync;

/// <summary>What the lost-lookup recovery relies on from the pending-lookup journal, on both implementations.</summary>
public abstract class PendingLookupJournalContractTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    protected abstract IPendingLookupJournal Journal { get; }

    /// <summary>Each test works in its own project, so the tests of a class can share one database.</summary>
    private static string NewProject() => "p" + Guid.NewGuid().ToString("N")[..10];

    private async Task<List<PendingLookup>> OlderThanAsync(string project, DateTimeOffset before) =>
        (await Journal.FindOlderThanAsync(before, 10_000)).Where(r => r.ProjectId == project).ToList();

    [Fact]
    public async Task Records_are_found_by_age_oldest_first_and_a_mark_refreshes_the_time()
    {
        var p = NewProject();
        await Journal.MarkAsync(p, LeadKeyType.Email, "b@example.com", At.AddSeconds(10));
        await Journal.MarkAsync(p, LeadKeyType.Cookie, "id:1-A-2&token:_mch-x-1", At);
        await Journal.MarkAsync(p, LeadKeyType.Email, "a@example.com", At.AddSeconds(20));

        var found = await OlderThanAsync(p, At.AddSeconds(20));
        Assert.Equal(["id:1-A-2&token:_mch-x-1", "b@example.com"], found.Select(r => r.Value));
        Assert.Equal(LeadKeyType.Cookie, found[0].Type);
        Assert.Equal(At, found[0].RequestedAt);

        await Journal.MarkAsync(p, LeadKeyType.Cookie, "id:1-A-2&token:_mch-x-1", At.AddMinutes(5));   // queued again
        Assert.Equal(["b@example.com"], (await OlderThanAsync(p, At.AddSeconds(20))).Select(r => r.Value));
        Assert.Equal(3, (await OlderThanAsync(p, At.AddHours(1))).Count);
    }

    [Fact]
    public async Task Clearing_removes_only_the_named_keys_of_that_type_written_up_to_the_time()
    {
        var p = NewProject();
        await Journal.MarkAsync(p, LeadKeyType.Email, "a@example.com", At);
        await Journal.MarkAsync(p, LeadKeyType.Email, "b@example.com", At);
        await Journal.MarkAsync(p, LeadKeyType.Cookie, "a@example.com", At);
        await Journal.MarkAsync(p, LeadKeyType.Email, "later@example.com", At.AddSeconds(5));
        var other = NewProject();
        await Journal.MarkAsync(other, LeadKeyType.Email, "a@example.com", At);

        // The batch was taken at At + 1 s: the record written after it belongs to a later lookup.
        await Journal.ClearAsync(p, LeadKeyType.Email, ["a@example.com", "later@example.com", "never@example.com"], At.AddSeconds(1));

        var left = await OlderThanAsync(p, At.AddHours(1));
        Assert.Equal(3, left.Count);
        Assert.Contains(left, r => r is { Type: LeadKeyType.Email, Value: "b@example.com" });
        Assert.Contains(left, r => r is { Type: LeadKeyType.Cookie, Value: "a@example.com" });
        Assert.Contains(left, r => r is { Type: LeadKeyType.Email, Value: "later@example.com" });
        Assert.Single(await OlderThanAsync(other, At.AddHours(1)));

        await Journal.ClearAsync(p, LeadKeyType.Email, [], At.AddHours(1));     // nothing named: nothing removed
        Assert.Equal(3, (await OlderThanAsync(p, At.AddHours(1))).Count);
    }

    [Fact]
    public async Task The_scan_limit_is_respected()
    {
        var p = NewProject();
        for (var i = 0; i < 5; i++) await Journal.MarkAsync(p, LeadKeyType.Email, $"u{i}@example.com", At.AddYears(-30).AddSeconds(i));
        var found = await Journal.FindOlderThanAsync(At.AddYears(-30).AddMinutes(1), 3);
        Assert.Equal(3, found.Count);
        Assert.Equal(["u0@example.com", "u1@example.com", "u2@example.com"], found.Select(r => r.Value));
    }
}

public sealed class PostgresPendingLookupJournalContractTests(MigratedDatabaseFixture fixture)
    : PendingLookupJournalContractTests, IClassFixture<MigratedDatabaseFixture>, IDisposable
{
    private readonly NpgsqlDataSource _dataSource = NpgsqlDataSource.Create(fixture.Database.ConnectionString);
    private PostgresPendingLookupJournal? _journal;

    protected override IPendingLookupJournal Journal => _journal ??= new PostgresPendingLookupJournal(_dataSource);

    [Fact]
    public async Task Concurrent_marks_are_all_durable_when_they_return_and_the_latest_time_of_a_key_wins()
    {
        var p = "pg" + Guid.NewGuid().ToString("N")[..10];
        var at = new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
        // Many callers at once share statements; two marks of one key in the same statement keep the later time.
        await Task.WhenAll(Enumerable.Range(0, 2_500).Select(i =>
            Journal.MarkAsync(p, LeadKeyType.Email, $"u{i % 2_000}@example.com", at.AddSeconds(i))));

        await using var command = _dataSource.CreateCommand(
            "SELECT count(*), max(requested_at) FILTER (WHERE key_value = 'u1@example.com') FROM lead_lookups_pending WHERE project_id = @p");
        command.Parameters.AddWithValue("p", p);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(2_000, reader.GetInt64(0));
        Assert.Equal(at.AddSeconds(2_001), reader.GetFieldValue<DateTimeOffset>(1));
    }

    [Fact]
    public async Task Rows_of_a_silo_declared_dead_are_taken_over_by_exactly_one_survivor_each()
    {
        var p = "pg" + Guid.NewGuid().ToString("N")[..10];
        var at = new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
        await using var dead = new PostgresPendingLookupJournal(_dataSource, new SiloHolder("silo-dead@7"));
        await using var survivorA = new PostgresPendingLookupJournal(_dataSource, new SiloHolder("silo-a@7"));
        await using var survivorB = new PostgresPendingLookupJournal(_dataSource, new SiloHolder("silo-b@7"));
        await Task.WhenAll(Enumerable.Range(0, 500).Select(i => dead.MarkAsync(p, LeadKeyType.Email, $"d{i}@example.com", at)));
        await survivorB.MarkAsync(p, LeadKeyType.Email, "live@example.com", at);

        // Both survivors hear of the death at once and take over in pages, concurrently.
        async Task<List<string>> TakeAllAsync(PostgresPendingLookupJournal journal)
        {
            var taken = new List<string>();
            while (true)
            {
                var page = await journal.TakeOverAsync(["silo-dead@7"], 64);
                taken.AddRange(page.Where(r => r.ProjectId == p).Select(r => r.Value));
                if (page.Count < 64) return taken;
            }
        }
        var both = await Task.WhenAll(TakeAllAsync(survivorA), TakeAllAsync(survivorB));

        Assert.Equal(500, both[0].Count + both[1].Count);
        Assert.Empty(both[0].Intersect(both[1]));
        Assert.Equal(500, both[0].Concat(both[1]).Distinct().Count());
        Assert.DoesNotContain("live@example.com", both[0].Concat(both[1]));     // a live silo's row stays its own
        Assert.Empty(await survivorA.TakeOverAsync(["silo-dead@7"], 64));
        // The rows stay in the journal (the key grains clear them once answered), so the time-based scan still sees them.
        Assert.Equal(501, (await survivorA.FindOlderThanAsync(at.AddSeconds(1), 10_000)).Count(r => r.ProjectId == p));
    }

    [Fact]
    public async Task A_mark_fails_with_store_unavailable_when_the_database_cannot_be_reached()
    {
        await using var nowhere = NpgsqlDataSource.Create("Host=127.0.0.1;Port=1;Username=x;Password=x;Timeout=2");
        await using var journal = new PostgresPendingLookupJournal(nowhere);
        await Assert.ThrowsAsync<KarteMarketo.Grains.Storage.StoreUnavailableException>(() =>
            journal.MarkAsync("p", LeadKeyType.Email, "a@example.com", DateTimeOffset.UtcNow));
    }

    public void Dispose()
    {
        _journal?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _dataSource.Dispose();
    }
}

public sealed class InMemoryPendingLookupJournalContractTests : PendingLookupJournalContractTests
{
    protected override IPendingLookupJournal Journal { get; } = new InMemoryPendingLookupJournal();

    [Fact]
    public async Task Rows_of_a_holder_declared_dead_are_taken_over_once()
    {
        var journal = new InMemoryPendingLookupJournal(new SiloHolder("silo-a@1"));
        var at = new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
        await journal.MarkAsync("p", LeadKeyType.Email, "a@example.com", at);

        Assert.Empty(await journal.TakeOverAsync(["silo-b@1"], 10));
        Assert.Equal(["a@example.com"], (await journal.TakeOverAsync(["silo-a@1"], 10)).Select(r => r.Value));
    }
}
