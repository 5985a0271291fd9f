using KarteMarketo.Grains.Flows.LeadSync;
using KarteMarketo.IntegrationTests.Infrastructure;
using Npgsql;

namespace KarteMarketo.IntegrationTests.Sync;

/// <summary>What the periodic sync relies on from its queue, on both implementations.</summary>
public abstract class PeriodicSyncQueueContractTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    protected abstract IPeriodicSyncQueue Queue { get; }

    private static string NewProject() => "p" + Guid.NewGuid().ToString("N")[..10];

    [Fact]
    public async Task A_run_takes_what_waited_in_ordinal_order_and_emails_seen_meanwhile_wait_for_the_next()
    {
        var p = NewProject();
        await Queue.AddAsync(p, ["b@example.com", "a@example.com", "B@example.com"], At);
        await Queue.AddAsync(p, ["a@example.com"], At);                       // seen again: once
        await Queue.AddAsync(NewProject(), ["other@example.com"], At);       // another project
        Assert.Equal((3, 0), await Queue.CountAsync(p));

        Assert.Equal(3, await Queue.StartRunAsync(p));
        await Queue.AddAsync(p, ["a@example.com", "c@example.com"], At);     // a is in the run; c waits
        Assert.Equal((1, 3), await Queue.CountAsync(p));
        Assert.Equal(["B@example.com", "a@example.com"], await Queue.NextInRunAsync(p, 2));

        await Queue.CompleteAsync(p, ["B@example.com", "a@example.com"]);
        Assert.Equal(["b@example.com"], await Queue.NextInRunAsync(p, 300));
        await Queue.CompleteAsync(p, ["b@example.com", "c@example.com"]);  // c is not in the run: it stays
        Assert.Equal((1, 0), await Queue.CountAsync(p));
        Assert.Empty(await Queue.NextInRunAsync(p, 300));
    }

    [Fact]
    public async Task A_stopped_run_gives_its_rest_back_and_the_next_run_takes_it_with_the_new_ones()
    {
        var p = NewProject();
        await Queue.AddAsync(p, [.. Enumerable.Range(0, 700).Select(i => $"u{i:D4}@example.com")], At);
        Assert.Equal(700, await Queue.StartRunAsync(p));
        var first = await Queue.NextInRunAsync(p, 300);
        Assert.Equal(300, first.Count);
        await Queue.CompleteAsync(p, first);

        await Queue.StopRunAsync(p);                                           // the quota said no
        await Queue.AddAsync(p, ["late@example.com", "u0000@example.com"], At);
        Assert.Equal((402, 0), await Queue.CountAsync(p));
        Assert.Equal(402, await Queue.StartRunAsync(p));
        Assert.Equal("late@example.com", (await Queue.NextInRunAsync(p, 1)).Single());
    }

    [Fact]
    public async Task Each_completion_that_removes_emails_counts_one_removal_of_its_project_and_nothing_else_does()
    {
        var p = NewProject();
        var other = NewProject();
        Assert.Equal(0, await Queue.RemovalsAsync(p));                          // never run

        await Queue.AddAsync(p, ["a@example.com", "b@example.com"], At);
        await Queue.AddAsync(other, ["a@example.com"], At);
        await Queue.StartRunAsync(p);
        await Queue.StopRunAsync(p);                                            // given back: nothing left the queue
        await Queue.StartRunAsync(p);
        await Queue.MarkLookedUpAsync(p, ["a@example.com"], At);
        await Queue.CompleteAsync(p, []);
        Assert.Equal(0, await Queue.RemovalsAsync(p));

        await Queue.CompleteAsync(p, ["a@example.com"]);
        await Queue.CompleteAsync(p, ["b@example.com"]);
        Assert.Equal(2, await Queue.RemovalsAsync(p));
        Assert.Equal(0, await Queue.RemovalsAsync(other));
        Assert.Equal((1, 0), await Queue.CountAsync(other));
    }

    [Fact]
    public async Task Concurrent_adds_are_all_stored_when_they_return()
    {
        var p = NewProject();
        await Task.WhenAll(Enumerable.Range(0, 400).Select(i => Queue.AddAsync(p, [$"x{i % 250}@example.com", "shared@example.com"], At)));
        Assert.Equal((251, 0), await Queue.CountAsync(p));
    }
}

public sealed class PostgresPeriodicSyncQueueContractTests(MigratedDatabaseFixture fixture)
    : PeriodicSyncQueueContractTests, IClassFixture<MigratedDatabaseFixture>, IDisposable
{
    private readonly NpgsqlDataSource _dataSource = NpgsqlDataSource.Create(fixture.Database.ConnectionString);
    private PostgresPeriodicSyncQueue? _queue;

    protected override IPeriodicSyncQueue Queue => _queue ??= new PostgresPeriodicSyncQueue(_dataSource);

    public void Dispose()
    {
        _queue?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _dataSource.Dispose();
    }
}

public sealed class InMemoryPeriodicSyncQueueContractTests : PeriodicSyncQueueContractTests
{
    protected override IPeriodicSyncQueue Queue { get; } = new InMemoryPeriodicSyncQueue();
}
