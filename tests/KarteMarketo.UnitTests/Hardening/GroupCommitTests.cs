using KarteMarketo.Grains.Storage;

namespace KarteMarketo.UnitTests.Hardening;

/// <summary>A group commit that fails retries its items one by one, so only the bad item fails.</summary>
public sealed class GroupCommitTests
{
    [Fact]
    public async Task Only_the_bad_item_of_a_failed_group_fails()
    {
        var stored = new List<string>();
        var release = new TaskCompletionSource();
        var started = new TaskCompletionSource();
        var first = true;
        await using var commit = new GroupCommit<string>(async items =>
        {
            if (first)
            {
                // Hold the first write so the rest queue up and go as one group.
                first = false;
                started.SetResult();
                await release.Task;
            }
            if (items.Contains("bad")) throw new InvalidOperationException("22021: refused");
            lock (stored) stored.AddRange(items);
        }, maxItems: 100);

        var warmup = commit.AddAsync("warmup");
        await started.Task;
        var adds = new[] { "a", "bad", "b", "c" }.Select(item => (item, task: commit.AddAsync(item))).ToList();
        release.SetResult();
        await warmup;

        foreach (var (item, task) in adds)
        {
            if (item == "bad") await Assert.ThrowsAsync<InvalidOperationException>(() => task);
            else await task;
        }
        Assert.Equal(["a", "b", "c", "warmup"], stored.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task An_outage_fails_the_whole_group_without_retrying_each()
    {
        var writes = 0;
        var release = new TaskCompletionSource();
        var started = new TaskCompletionSource();
        await using var commit = new GroupCommit<int>(async items =>
        {
            Interlocked.Increment(ref writes);
            started.TrySetResult();
            await release.Task;
            throw new StoreUnavailableException("down", new TimeoutException());
        }, maxItems: 100);

        var held = commit.AddAsync(0);
        await started.Task;
        var group = Enumerable.Range(1, 5).Select(i => commit.AddAsync(i)).ToList();
        release.SetResult();

        await Assert.ThrowsAsync<StoreUnavailableException>(() => held);
        foreach (var task in group) await Assert.ThrowsAsync<StoreUnavailableException>(() => task);
        Assert.Equal(2, writes);
    }
}
