using KarteMarketo.Contracts.Projects;
using KarteMarketo.Grains.Projects;
using Microsoft.Extensions.Time.Testing;

namespace KarteMarketo.UnitTests.FrontDoor;

public sealed class ProjectDirectoryTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-11-28T12:00:00Z"));
    private readonly Dictionary<string, ProjectRecord?> _grains = new();
    private readonly List<string> _loads = [];
    private readonly ProjectDirectory _directory;

    public ProjectDirectoryTests()
    {
        _directory = new ProjectDirectory(id =>
        {
            lock (_loads) _loads.Add(id);
            return Task.FromResult(_grains.GetValueOrDefault(id));
        }, _time, TimeSpan.FromSeconds(3));
    }

    private static ProjectRecord Record(string id, long version) =>
        new(id,
            new ProjectSettings(
                new MarketoSettings("c", "s", "https://x/rest", "https://x/identity", null, [], [], "UTC"),
                new PeriodicSyncSettings(true, 30), new RealtimeSyncSettings(true, ["email"], 60, 0),
                QuotaSettings.Default, [], []),
            new KeyHash("h", "s", "abcd"), new KeyHash("h", "s", "efgh"), version, DateTimeOffset.UnixEpoch);

    [Fact]
    public async Task Repeated_reads_within_the_time_to_live_cost_no_grain_call()
    {
        _grains["p"] = Record("p", 1);

        for (var i = 0; i < 100; i++) Assert.Equal(1, (await _directory.GetAsync("p"))!.Version);

        Assert.Single(_loads);
    }

    [Fact]
    public async Task A_change_made_elsewhere_is_seen_once_the_copy_expires()
    {
        _grains["p"] = Record("p", 1);
        await _directory.GetAsync("p");
        _grains["p"] = Record("p", 2); // written through another silo

        _time.Advance(TimeSpan.FromSeconds(2.9));
        Assert.Equal(1, (await _directory.GetAsync("p"))!.Version);
        _time.Advance(TimeSpan.FromSeconds(0.2));
        Assert.Equal(2, (await _directory.GetAsync("p"))!.Version);
        Assert.Equal(2, _loads.Count);
    }

    [Fact]
    public async Task A_local_write_is_seen_at_once_after_invalidate()
    {
        _grains["p"] = Record("p", 1);
        await _directory.GetAsync("p");
        _grains["p"] = Record("p", 2);

        _directory.Invalidate("p");

        Assert.Equal(2, (await _directory.GetAsync("p"))!.Version);
    }

    [Fact]
    public async Task Unknown_projects_are_cached_too()
    {
        Assert.Null(await _directory.GetAsync("nope"));
        Assert.Null(await _directory.GetAsync("nope"));
        Assert.Single(_loads);

        _grains["nope"] = Record("nope", 1);
        _time.Advance(TimeSpan.FromSeconds(3));
        Assert.NotNull(await _directory.GetAsync("nope"));
    }

    [Fact]
    public async Task A_max_age_forces_a_fresher_copy()
    {
        _grains["p"] = Record("p", 1);
        await _directory.GetAsync("p");
        _grains["p"] = Record("p", 2);

        _time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(1, (await _directory.GetAsync("p", TimeSpan.FromSeconds(1)))!.Version);
        Assert.Equal(2, (await _directory.GetAsync("p", TimeSpan.Zero))!.Version);
        // And the fresh copy now serves ordinary reads.
        Assert.Equal(2, (await _directory.GetAsync("p"))!.Version);
        Assert.Equal(2, _loads.Count);
    }

    [Fact]
    public async Task Concurrent_misses_share_one_grain_call()
    {
        var gate = new TaskCompletionSource<ProjectRecord?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;
        var directory = new ProjectDirectory(_ =>
        {
            Interlocked.Increment(ref calls);
            return gate.Task;
        }, _time, TimeSpan.FromSeconds(3));

        var reads = Enumerable.Range(0, 50).Select(_ => directory.GetAsync("p").AsTask()).ToList();
        gate.SetResult(Record("p", 7));
        var results = await Task.WhenAll(reads);

        Assert.Equal(1, calls);
        Assert.All(results, r => Assert.Equal(7, r!.Version));
    }

    [Fact]
    public async Task A_failed_read_is_not_remembered()
    {
        var fail = true;
        var directory = new ProjectDirectory(id => fail
            ? Task.FromException<ProjectRecord?>(new TimeoutException("storage down"))
            : Task.FromResult<ProjectRecord?>(Record(id, 1)), _time, TimeSpan.FromSeconds(3));

        await Assert.ThrowsAsync<TimeoutException>(() => directory.GetAsync("p").AsTask());
        fail = false;

        Assert.NotNull(await directory.GetAsync("p"));
    }

    [Fact]
    public async Task Expired_entries_are_pruned_when_the_cache_grows_large()
    {
        for (var i = 0; i <= ProjectDirectory.PruneThreshold; i++) await _directory.GetAsync("x" + i);
        Assert.Equal(ProjectDirectory.PruneThreshold + 1, _directory.Count);

        _time.Advance(TimeSpan.FromSeconds(4));
        await _directory.GetAsync("p");

        Assert.Equal(1, _directory.Count);
    }
}
