using KarteMarketo.Contracts.Quota;

namespace KarteMarketo.Contracts.LeadSync;

/// <summary>
/// A project's lookup results, counted (keyed <c>t:{project}</c>, see <see cref="GrainKeys.SyncResults"/>): how many
/// key lookups ended synced, notFound, failed or deferred, in total and over the last 24 hours, and the last errors.
/// Fed once per delivered batch (one call per Marketo call, never per key) by the realtime batcher, the periodic
/// scheduler and the backlog; read by <c>GET …/sync</c> and the console's sync status page.
/// </summary>
[Alias("KarteMarketo.ISyncResultsGrain")]
public interface ISyncResultsGrain : IGrainWithStringKey
{
    /// <summary>Adds one delivered batch's results. One-way: the lookup path never waits for its statistics.</summary>
    [Alias("RecordAsync"), OneWay]
    Task RecordAsync(SyncResultBatch batch);

    /// <summary>The counts and the last errors, newest first.</summary>
    [Alias("GetAsync")]
    Task<SyncResultsSnapshot> GetAsync();
}

/// <summary>One delivered batch: results of keys of one type, counted by <see cref="SyncResult"/>, and its errors
/// (grouped: a failed call fails all its keys with one message).</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.SyncResultBatch")]
public sealed record SyncResultBatch(
    [property: Id(0)] LeadKeyType Type,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] int Synced,
    [property: Id(3)] int NotFound,
    [property: Id(4)] int Failed,
    [property: Id(5)] int Deferred,
    [property: Id(6)] IReadOnlyList<SyncErrorEntry> Errors)
{
    /// <summary>Counts and groups the results of one batch (null when there is nothing to record).</summary>
    public static SyncResultBatch? From(LeadKeyType type, IEnumerable<(string Key, LeadLookupResult Result)> results)
    {
        var list = results.ToList();
        if (list.Count == 0) return null;
        int Count(SyncResult r) => list.Count(x => x.Result.Result == r);
        var errors = list.Where(x => x.Result.Error is not null)
            .GroupBy(x => (x.Result.Result, x.Result.Error, x.Result.Purpose))
            .Select(g => new SyncErrorEntry(g.Max(x => x.Result.At), type, g.Key.Result, g.Key.Error!, g.Key.Purpose, g.Count(), g.First().Key))
            .ToList();
        return new SyncResultBatch(type, list.Max(x => x.Result.At), Count(SyncResult.Synced), Count(SyncResult.NotFound),
            Count(SyncResult.Failed), Count(SyncResult.Deferred), errors);
    }
}

/// <summary>An error a lookup ended with: when, which result, the message, what the lookup was for, how many keys of
/// the batch got it and one of them.</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.SyncErrorEntry")]
public sealed record SyncErrorEntry(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] LeadKeyType Type,
    [property: Id(2)] SyncResult Result,
    [property: Id(3)] string Error,
    [property: Id(4)] MarketoCallPurpose Purpose,
    [property: Id(5)] int Keys,
    [property: Id(6)] string SampleKey);

/// <summary>Counts by result (indexed by <see cref="SyncResult"/>: pending is always 0), since <paramref name="Since"/>
/// (the first result recorded) and over the 24 hours before <paramref name="At"/>; the last errors, newest first.</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.SyncResultsSnapshot")]
public sealed record SyncResultsSnapshot(
    [property: Id(0)] IReadOnlyList<long> Total,
    [property: Id(1)] IReadOnlyList<long> Last24Hours,
    [property: Id(2)] DateTimeOffset? Since,
    [property: Id(3)] IReadOnlyList<SyncErrorEntry> LastErrors,
    [property: Id(4)] DateTimeOffset At);
