using KarteMarketo.Contracts.LeadSync;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>
/// Hands each key's lookup result to its key grain, all at once: the one delivery used by the realtime batcher and the
/// periodic scheduler. A key without a result gets the given fallback result (or nothing when none is given); a delivery that
/// throws does not stop the others and is reported back, so that the caller keeps that key for another try.
/// </summary>
internal static class LookupResultDelivery
{
    public static async Task<(IReadOnlyList<string> Delivered, IReadOnlyList<(string Key, Exception Error)> Failed)> DeliverAsync(
        IGrainFactory grains, string projectId, LeadKeyType type, IReadOnlyList<string> keys,
        IReadOnlyDictionary<string, LeadLookupResult> results, LeadLookupResult? missing)
    {
        var outcomes = await Task.WhenAll(keys.Select(async key =>
        {
            var result = results.TryGetValue(key, out var found) ? found : missing;
            if (result is null) return (key, (Exception?)null);
            try
            {
                await grains.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(projectId, type, key)).ApplyLookupResultAsync(result);
                return (key, null);
            }
            catch (Exception ex)
            {
                return (key, ex);
            }
        }));
        return ([.. outcomes.Where(o => o.Item2 is null).Select(o => o.key)],
                [.. outcomes.Where(o => o.Item2 is not null).Select(o => (o.key, o.Item2!))]);
    }
}
