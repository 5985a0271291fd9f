using KarteMarketo.Contracts.LeadSync;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>
/// Hands each key's lookup result to its key grain, all at once: the one delivery used by the realtime batcher and the
/// periodic scheduler. A key without a result gets the given fallback result (or nothing when none is given); a delivery that
/// throws does not stop the others and is reported back, so that the caller keeps that key for another try. The results
/// delivered are counted for sync status with one one-way message per batch (<see cref="ISyncResultsGrain"/>); an
/// undelivered key is counted when its next try delivers.
/// </summary>
internal static class LookupResultDelivery
{
    public static async Task<(IReadOnlyList<string> Delivered, IReadOnlyList<(string Key, Exception Error)> Failed)> DeliverAsync(
        IGrainFactory grains, string projectId, LeadKeyType type, IReadOnlyList<string> keys,
        IReadOnlyDictionary<string, LeadLookupResult> results, LeadLookupResult? missing)
    {
        var outcomes = await Task.WhenAll(keys.Select(async Task<(string Key, LeadLookupResult? Applied, Exception? Error)> (key) =>
        {
            var result = results.TryGetValue(key, out var found) ? found : missing;
            if (result is null) return (key, null, null);
            try
            {
                await grains.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(projectId, type, key)).ApplyLookupResultAsync(result);
                return (key, result, null);
            }
            catch (Exception ex)
            {
                return (key, null, ex);
            }
        }));
        if (SyncResultBatch.From(type, outcomes.Where(o => o.Applied is not null).Select(o => (o.Key, o.Applied!))) is { } batch)
            await grains.GetGrain<ISyncResultsGrain>(GrainKeys.SyncResults(projectId)).RecordAsync(batch);
        return ([.. outcomes.Where(o => o.Error is null).Select(o => o.Key)],
                [.. outcomes.Where(o => o.Error is not null).Select(o => (o.Key, o.Error!))]);
    }
}
