using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.Grains.Flows.LeadSync;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using static KarteMarketo.FunctionalTests.Sync.SyncTestKit;

namespace KarteMarketo.FunctionalTests.Sync;

/// <summary>The server with a periodic-sync queue that counts the emails written to it.</summary>
public sealed class CountingQueueAppFactory : KarteMarketoAppFactory
{
    public CountingPeriodicSyncQueue Queue { get; } = new(new InMemoryPeriodicSyncQueue());

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureServices(services =>
        {
            services.RemoveAll<IPeriodicSyncQueue>();
            services.AddSingleton<IPeriodicSyncQueue>(Queue);
        });
    }
}

/// <summary>Delegates to a real queue and counts the emails handed to <see cref="AddAsync"/>.</summary>
public sealed class CountingPeriodicSyncQueue(IPeriodicSyncQueue inner) : IPeriodicSyncQueue
{
    private int _written;

    public int Written => Volatile.Read(ref _written);

    public Task AddAsync(string projectId, IReadOnlyCollection<string> emails, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        Interlocked.Add(ref _written, emails.Count);
        return inner.AddAsync(projectId, emails, at, cancellationToken);
    }

    public Task<int> StartRunAsync(string projectId, CancellationToken cancellationToken = default) => inner.StartRunAsync(projectId, cancellationToken);
    public Task<IReadOnlyList<string>> NextInRunAsync(string projectId, int limit, CancellationToken cancellationToken = default) =>
        inner.NextInRunAsync(projectId, limit, cancellationToken);
    public Task CompleteAsync(string projectId, IReadOnlyCollection<string> emails, CancellationToken cancellationToken = default) =>
        inner.CompleteAsync(projectId, emails, cancellationToken);
    public Task StopRunAsync(string projectId, CancellationToken cancellationToken = default) => inner.StopRunAsync(projectId, cancellationToken);
    public Task MarkLookedUpAsync(string projectId, IReadOnlyCollection<string> emails, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        inner.MarkLookedUpAsync(projectId, emails, at, cancellationToken);
    public Task<IReadOnlySet<string>> LookedUpSinceAsync(string projectId, IReadOnlyCollection<string> emails, DateTimeOffset since,
        CancellationToken cancellationToken = default) => inner.LookedUpSinceAsync(projectId, emails, since, cancellationToken);
    public Task<(int Waiting, int InRun)> CountAsync(string projectId, CancellationToken cancellationToken = default) =>
        inner.CountAsync(projectId, cancellationToken);
    public Task<long> RemovalsAsync(string projectId, CancellationToken cancellationToken = default) => inner.RemovalsAsync(projectId, cancellationToken);
}

/// <summary>Busy users identify many times a minute: the periodic sync needs one queued row per email per interval,
/// so an email a host queued moments ago is not written again, nor later while no run has removed it; once a run
/// has, the next sightings queue it again.</summary>
public sealed class PeriodicSyncIntakeTests(CountingQueueAppFactory app) : IClassFixture<CountingQueueAppFactory>
{
    [Fact]
    public async Task Repeated_identifies_write_each_email_once_until_a_run_removes_it_and_later_ones_write_it_again()
    {
        await using var kit = await StartAsync(app, "intake-recent", Settings(realtime: false, periodic: true, intervalMinutes: 30));
        var events = Enumerable.Range(0, 50).Select(i => Identify($"busy-{i}", $"busy{i}@example.com")).ToList();

        await kit.SendAsync(events);
        await kit.SendAsync(events);
        await kit.AdvanceAsync(TimeSpan.FromSeconds(5));
        await kit.SendAsync(events);
        Assert.Equal(50, app.Queue.Written);
        Assert.Equal(50, (await kit.SchedulerStatusAsync()).Pending);

        // A new email is written at once, whatever the others did.
        await kit.SendAsync([Identify("new", "new@example.com")]);
        Assert.Equal(51, app.Queue.Written);

        // Later, with no run having taken anything: one read of the queue's removal count shows they are all still
        // queued, so nothing is written again.
        await kit.AdvanceAsync(PeriodicSyncIntake.RecentlyQueuedFor);
        await kit.SendAsync(events);
        await app.Services.GetRequiredService<PeriodicSyncIntake>().WhenRefreshedAsync();
        Assert.Equal(51, app.Queue.Written);
        Assert.Equal(51, (await kit.SchedulerStatusAsync()).Pending);
        Assert.Equal(0, kit.LookupCalls);

        // The periodic run takes them and removes them once looked up; the next sightings queue them again.
        await kit.AdvanceToNextTickAsync(TimeSpan.FromMinutes(30));
        await WaitUntilAsync(async () => (await kit.SchedulerStatusAsync()) is { Running: 0, Pending: 0 }, "periodic run done",
            diagnostics: () => kit.DumpAsync());
        await kit.AdvanceAsync(PeriodicSyncIntake.RecentlyQueuedFor);
        await kit.SendAsync(events);
        await app.Services.GetRequiredService<PeriodicSyncIntake>().WhenRefreshedAsync();
        Assert.Equal(101, app.Queue.Written);
        Assert.Equal(50, (await kit.SchedulerStatusAsync()).Pending);
    }
}
