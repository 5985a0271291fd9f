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
    private readonly Func<IReadOnlyList<T>, Task> _write;
    private readonly int _maxItems;
    private readonly Channel<(T Item, TaskCompletionSource Done)> _queue =
        Channel.CreateUnbounded<(T, TaskCompletionSource)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;

    public GroupCommit(Func<IReadOnlyList<T>, Task> write, int maxItems)
    {
        _write = write;
        _maxItems = maxItems;
        _writer = Task.Run(WriteLoopAsync);
    }

    public Task AddAsync(T item, CancellationToken cancellationToken = default)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_queue.Writer.TryWrite((item, done))) throw new ObjectDisposedException(nameof(GroupCommit<T>));
        return done.Task.WaitAsync(cancellationToken);
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<(T Item, TaskCompletionSource Done)>();
        while (await _queue.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < _maxItems && _queue.Reader.TryRead(out var entry)) batch.Add(entry);
            try
            {
                await _write([.. batch.Select(e => e.Item)]);
                foreach (var entry in batch) entry.Done.TrySetResult();
            }
            catch (Exception ex) when (batch.Count > 1 && !IsUnavailable(ex))
            {
                // One bad item (a value the database refuses) must not fail the others sharing its statement, which may
                // belong to other projects: write each on its own, so only the bad one sees the error.
                foreach (var entry in batch)
                {
                    try
                    {
                        await _write([entry.Item]);
                        entry.Done.TrySetResult();
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
        await _writer;
    }
}
