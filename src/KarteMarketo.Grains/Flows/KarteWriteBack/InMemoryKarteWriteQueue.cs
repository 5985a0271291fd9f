using KarteMarketo.Grains.Outbox;

namespace KarteMarketo.Grains.Flows.KarteWriteBack;

/// <summary>The KARTE queue of the embedded default: the remembered hashes in memory, the rows in the in-memory outbox.</summary>
public sealed class InMemoryKarteWriteQueue(IOutboxStore outbox) : IKarteWriteQueue
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Project, string User), string> _hashes = [];

    public async Task<int> EnqueueAsync(string projectId, IReadOnlyList<KarteQueuedWrite> writes, DateTimeOffset now,
        CancellationToken cancellationToken = default)
    {
        var entries = new List<OutboxEntry>();
        lock (_gate)
        {
            foreach (var write in writes)
            {
                if (write.ValuesHash is { } hash)
                {
                    if (write.OnlyOnChange && _hashes.TryGetValue((projectId, write.UserId), out var last) && last == hash) continue;
                    _hashes[(projectId, write.UserId)] = hash;
                }
                entries.Add(new OutboxEntry(write.DeliveryId, write.UserId, null, KarteWritePayload.Build(write.EventName, write.Values)));
            }
        }
        if (entries.Count == 0) return 0;
        return (await outbox.EnqueueAsync(projectId, OutboxKind.Karte, entries, now, cancellationToken)).Count;
    }

    public Task ForgetValuesAsync(string projectId, string userId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            _hashes.Remove((projectId, userId));
        }
        return Task.CompletedTask;
    }
}
