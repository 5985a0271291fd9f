using KarteMarketo.Grains.Flows.MarketoActivities;
using KarteMarketo.Grains.Outbox;

namespace KarteMarketo.Grains.Background;

/// <summary>Retention deletes of the embedded default, on the in-memory stores. A store replaced by something else
/// (a test's wrapper) is left alone.</summary>
public sealed class InMemoryRetentionStore(IOutboxStore outbox, IWebhookEventStore events) : IRetentionStore
{
    public Task<int> DeleteWebhookEventsAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default) =>
        Task.FromResult(events is InMemoryWebhookEventStore memory ? memory.DeleteReceivedBefore(before, limit) : 0);

    public Task<int> DeleteDeliveredAsync(OutboxKind kind, DateTimeOffset before, int limit, CancellationToken cancellationToken = default) =>
        Task.FromResult(outbox is InMemoryOutboxStore memory ? memory.DeleteDeliveredBefore(kind, before, limit) : 0);
}
