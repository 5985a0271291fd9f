using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Storage;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>What a <see cref="SyncResultsGrain"/> persists.</summary>
[GenerateSerializer, Alias("KarteMarketo.SyncResultsState")]
public sealed class SyncResultsState
{
    /// <summary>Counts by <see cref="SyncResult"/> (index = the enum's value).</summary>
    [Id(0)] public long[] Total { get; set; } = new long[SyncResultsGrain.Results];

    /// <summary>Counts per UTC hour (hours since the Unix epoch), kept for the last 24 hours.</summary>
    [Id(1)] public Dictionary<long, long[]> Hours { get; set; } = [];

    /// <summary>The last errors, newest first, at most <see cref="SyncResultsGrain.MaxErrors"/>.</summary>
    [Id(2)] public List<SyncErrorEntry> Errors { get; set; } = [];

    [Id(3)] public DateTimeOffset? Since { get; set; }
}

/// <summary>
/// The tally behind sync status (<see cref="ISyncResultsGrain"/>). Why a grain and not a table: the lookup path hands
/// it one one-way message per delivered batch (at most one per Marketo call, which Marketo's own limits keep to a few
/// per second), so counting costs the hot path nothing it waits for and no query per key; reads are one grain call
/// whatever the number of users. The state goes to grain storage (PostgreSQL or memory, as every grain's) at most once
/// per <see cref="WriteDelay"/> and on deactivation, so a crash may lose the last seconds of counts, which are
/// statistics, never the results themselves (those live with the key grains and the users).
/// </summary>
[GrainType("sync-results")]
public sealed partial class SyncResultsGrain(
    [PersistentState(SyncResultsGrain.StateName, StorageNames.Grains)] IPersistentState<SyncResultsState> state,
    TimeProvider time,
    ILogger<SyncResultsGrain> logger) : Grain, ISyncResultsGrain
{
    /// <summary>The grain state's name.</summary>
    public const string StateName = "sync-results-state";

    /// <summary>The number of <see cref="SyncResult"/> values.</summary>
    public static readonly int Results = Enum.GetValues<SyncResult>().Length;

    /// <summary>Errors kept (newest first).</summary>
    public const int MaxErrors = 50;

    /// <summary>How long changes may wait before they are written.</summary>
    public static readonly TimeSpan WriteDelay = TimeSpan.FromSeconds(10);

    private const int HoursKept = 24;

    private IGrainTimer? _writeTimer;
    private bool _dirty;

    private SyncResultsState S => state.State;

    public Task RecordAsync(SyncResultBatch batch)
    {
        var hour = HourOf(batch.At);
        if (!S.Hours.TryGetValue(hour, out var counts)) S.Hours[hour] = counts = new long[Results];
        Add(S.Total, batch);
        Add(counts, batch);
        S.Since ??= batch.At;
        if (batch.Errors.Count > 0)
        {
            S.Errors.InsertRange(0, batch.Errors.OrderByDescending(e => e.At));
            if (S.Errors.Count > MaxErrors) S.Errors.RemoveRange(MaxErrors, S.Errors.Count - MaxErrors);
        }
        Prune(HourOf(time.GetUtcNow()));
        _dirty = true;
        ScheduleWrite();
        return Task.CompletedTask;
    }

    public Task<SyncResultsSnapshot> GetAsync()
    {
        var now = time.GetUtcNow();
        var nowHour = HourOf(now);
        var last24 = new long[Results];
        foreach (var (hour, counts) in S.Hours)
        {
            if (hour <= nowHour - HoursKept) continue;
            for (var i = 0; i < Results; i++) last24[i] += counts[i];
        }
        return Task.FromResult(new SyncResultsSnapshot([.. S.Total], last24, S.Since, [.. S.Errors], now));
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (!_dirty) return;
        try
        {
            await state.WriteStateAsync(cancellationToken);
        }
        catch (Exception ex)
        {
            LogWriteFailed(ex, this.GetPrimaryKeyString());
        }
    }

    private async Task WriteAsync()
    {
        try
        {
            if (!_dirty) return;
            _dirty = false;
            // Not the timer's token: disposing the one-shot timer below cancels it, and the write must not be cut short.
            await state.WriteStateAsync();
        }
        catch (Exception ex)
        {
            // Counts are statistics: keep them in memory and try again after the delay rather than fail anything.
            _dirty = true;
            LogWriteFailed(ex, this.GetPrimaryKeyString());
        }
        finally
        {
            _writeTimer?.Dispose();
            _writeTimer = null;
            if (_dirty) ScheduleWrite();
        }
    }

    /// <summary>One write per delay however many batches arrive in it.</summary>
    private void ScheduleWrite() =>
        _writeTimer ??= this.RegisterGrainTimer(WriteAsync, new GrainTimerCreationOptions(WriteDelay, Timeout.InfiniteTimeSpan));

    private void Prune(long nowHour)
    {
        foreach (var hour in S.Hours.Keys.Where(h => h <= nowHour - HoursKept).ToList()) S.Hours.Remove(hour);
    }

    private static void Add(long[] counts, SyncResultBatch batch)
    {
        counts[(int)SyncResult.Synced] += batch.Synced;
        counts[(int)SyncResult.NotFound] += batch.NotFound;
        counts[(int)SyncResult.Failed] += batch.Failed;
        counts[(int)SyncResult.Deferred] += batch.Deferred;
    }

    private static long HourOf(DateTimeOffset at) => at.ToUnixTimeSeconds() / 3600;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Storing the sync result counts of {Key} failed; they are kept in memory and tried again")]
    private partial void LogWriteFailed(Exception ex, string key);
}
