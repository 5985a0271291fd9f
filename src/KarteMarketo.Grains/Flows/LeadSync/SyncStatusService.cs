using KarteMarketo.Contracts.LeadSync;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>
/// A project's sync status as <c>GET /v1/projects/{projectId}/sync</c> answers it and the console's sync status page
/// shows it (one builder for both): lookup results counted by result (in total and over the last 24 hours), the last
/// errors, and the backlog of keys waiting to be looked up again.
/// </summary>
public sealed class SyncStatusService(IGrainFactory grains)
{
    /// <summary>Reads the tally and the backlog (two grain calls, however many users the project has).</summary>
    public async Task<SyncStatusView> GetAsync(string projectId)
    {
        var resultsTask = grains.GetGrain<ISyncResultsGrain>(GrainKeys.SyncResults(projectId)).GetAsync();
        var backlogTask = grains.GetGrain<ILeadBacklogGrain>(GrainKeys.LeadBacklog(projectId)).GetStatusAsync();
        var results = await resultsTask;
        var backlog = await backlogTask;
        return new SyncStatusView(
            new SyncResultCounts(results.Since, Named(results.Total), Named(results.Last24Hours)),
            [.. results.LastErrors.Select(e => new SyncErrorView(e.At, e.Type.ToKeyword(), e.SampleKey, e.Keys,
                e.Result.ToKeyword(), e.Error, e.Purpose.ToString().ToLowerInvariant()))],
            new SyncBacklogView(backlog.Keys, backlog.NextDueAt, backlog.LastDrainAt, backlog.LastError, backlog.Calls));
    }

    /// <summary>The counts under API.md's result names; <c>pending</c> is a key's state before its first result, never a
    /// lookup's outcome, so it is not counted.</summary>
    private static Dictionary<string, long> Named(IReadOnlyList<long> counts) =>
        SyncResultNames.All.Where(r => r != SyncResult.Pending)
            .ToDictionary(r => r.ToKeyword(), r => (int)r < counts.Count ? counts[(int)r] : 0L, StringComparer.Ordinal);
}

/// <summary>The body of <c>GET …/sync</c>.</summary>
/// <param name="Results">Lookup results counted by result.</param>
/// <param name="LastErrors">The last lookups that ended with an error, newest first (at most 50).</param>
/// <param name="Backlog">Keys the project looks up again by itself (deferred keys, resyncs).</param>
public sealed record SyncStatusView(SyncResultCounts Results, IReadOnlyList<SyncErrorView> LastErrors, SyncBacklogView Backlog);

/// <summary>Counts of key lookups by result: since <paramref name="Since"/> (the first one counted) and over the last 24 hours.</summary>
public sealed record SyncResultCounts(DateTimeOffset? Since, IReadOnlyDictionary<string, long> Total, IReadOnlyDictionary<string, long> Last24Hours);

/// <summary>One error: when, the key type and one key of the batch, how many keys got it, the result, the message, and
/// what the lookup was for (<c>realtime</c> or <c>periodic</c>).</summary>
public sealed record SyncErrorView(DateTimeOffset At, string KeyType, string Key, int Keys, string Result, string Error, string Purpose);

/// <summary>The backlog: keys waiting, when the next is due, when it last drained, why it last stopped early, its calls.</summary>
public sealed record SyncBacklogView(int Keys, DateTimeOffset? NextDueAt, DateTimeOffset? LastDrainAt, string? LastError, long Calls);
