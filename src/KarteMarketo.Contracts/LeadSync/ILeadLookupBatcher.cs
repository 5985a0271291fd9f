namespace KarteMarketo.Contracts.LeadSync;

/// <summary>
/// Gathers lookups of one project and key type on one silo (keyed <c>b:{project}/{email|cookie}</c>, see
/// <see cref="GrainKeys.LookupBatcher"/>) for up to <c>realtimeSync.batchDelayMilliseconds</c> or 300 keys, then makes
/// one Marketo call for all of them and hands each result to its <see cref="ILeadKeyGrain"/>.
/// </summary>
[Alias("KarteMarketo.ILeadLookupBatcher")]
public interface ILeadLookupBatcher : IGrainWithStringKey
{
    /// <summary>Queues a lookup and returns at once; the result arrives later at
    /// <see cref="ILeadKeyGrain.ApplyLookupResultAsync"/> of the key.</summary>
    [Alias("EnqueueAsync")]
    Task EnqueueAsync(LeadLookupRequest request);
}
