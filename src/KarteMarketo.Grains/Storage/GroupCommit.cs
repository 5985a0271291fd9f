using System.Threading.Channels;

namespace KarteMarketo.Grains.Storage;

/// <summary>
/// Group commit for small writes that many grains make at the same moment: callers queue an item and await it; one
/// writer takes everything waiting (up to <c>maxItems</c>) and stores it with a single statement, so a burst of N
/// writes costs one round trip and one commit instead of N. A caller returns only once its item is durable, and sees
/// the write's exception if it failed. When a group fails for anything but an outage, its items are written again one
/// by one, so a value the database refuses fails only its own caller.
/// </summary>
internal sealed class GroupCommit<T> : IAsyncDisposable
{
    private readonly GroupCall<T, bool> _calls;

    public GroupCommit(Func<IReadOnlyList<T>, Task> write, int maxItems)
    {
        _calls = new GroupCall<T, bool>(async items =>
        {
            await write(items);
            return new bool[items.Count];
        }, maxItems);
    }

    public Task AddAsync(T item, CancellationToken cancellationToken = default) => _calls.CallAsync(item, cancellationToken);

    public ValueTask DisposeAsync() => _calls.DisposeAsync();
}

/// <summary>
/// <see cref="GroupCommit{T}"/> with an answer per item: one statement serves every call waiting at that moment (up to
/// <c>maxItems</c>) and returns one result per item, in the items' order (a read, or a write that may lose its ETag).
/// Failures are shared the same way: an outage fails the group, any other error has each item run on its own.
/// </summary>
internal sealed class GroupCall<TItem, TResult> : IAsyncDisposable
{
    private readonly Func<IReadOnlyList<TItem>, Task<IReadOnlyList<TResult>>> _run;
    private readonly int _maxItems;
    private readonly Channel<(TItem Item, TaskCompletionSource<TResult> Done)> _queue =
        Channel.CreateUnbounded<(TItem, TaskCompletionSource<TResult>)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _runner;

    public GroupCall(Func<IReadOnlyList<TItem>, Task<IReadOnlyList<TResult>>> run, int maxItems)
    {
        _run = run;
        _maxItems = maxItems;
        _runner = Task.Run(RunLoopAsync);
    }

    public Task<TResult> CallAsync(TItem item, CancellationToken cancellationToken = default)
    {
        var done = new TaskCompletionSource<TResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_queue.Writer.TryWrite((item, done))) throw new ObjectDisposedException(nameof(GroupCall<TItem, TResult>));
        return done.Task.WaitAsync(cancellationToken);
    }

    private async Task RunLoopAsync()
    {
        var batch = new List<(TItem Item, TaskCompletionSource<TResult> Done)>();
        while (await _queue.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < _maxItems && _queue.Reader.TryRead(out var entry)) batch.Add(entry);
            try
            {
                var results = await _run([.. batch.Select(e => e.Item)]);
                for (var i = 0; i < batch.Count; i++) batch[i].Done.TrySetResult(results[i]);
            }
            catch (Exception ex) when (batch.Count > 1 && !IsUnavailable(ex))
            {
                // One bad item (a value the database refuses) must not fail the others sharing its statement, which may
                // belong to other projects: run each on its own, so only the bad one sees the error.
                foreach (var entry in batch)
                {
                    try
                    {
                        entry.Done.TrySetResult((await _run([entry.Item]))[0]);
                    }
                    catch (Exception single)
                    {
                        entry.Done.TrySetException(single);
                    }
                }
            }
            catch (Exception ex)
            {
                foreach (var entry in batch) entry.Done.TrySetException(ex);
            }
        }
    }

    /// <summary>An outage fails every item alike; retrying them one by one would only multiply the waiting.</summary>
    private static bool IsUnavailable(Exception ex) => ex is StoreUnavailableException;

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _runner;
    }
}
