using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Projects;
using KarteMarketo.Grains.Storage;
using KarteMarketo.Marketo;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>
/// The periodic sync of one project (<c>s:{project}</c>). The events endpoint adds the emails of identify events to the
/// project's <see cref="IPeriodicSyncQueue"/> (a table, written before the 202). A reminder every <c>intervalMinutes</c>
/// (or <c>sync/run</c>) starts a run over them: 300 emails per Marketo call, a few calls per grain turn, the next turn
/// queued by a one-way call to itself. What the quota does not allow goes back to waiting for the next tick. The
/// grain's own state stays small (reminder, last run), however many emails wait.
/// </summary>
[GrainType("sync-scheduler")]
public sealed partial class SyncSchedulerGrain(
    [PersistentState("sync-scheduler-state", StorageNames.Grains)] IPersistentState<SyncSchedulerState> state,
    IProjectDirectory directory,
    IPeriodicSyncQueue queue,
    LeadLookupExecutor executor,
    TimeProvider time,
    ILogger<SyncSchedulerGrain> logger) : Grain, ISyncSchedulerGrain, IRemindable
{
    public const string ReminderName = "periodic-sync";

    /// <summary>Marketo calls per grain turn: each is a few milliseconds plus 300 grain calls to hand results over.</summary>
    public const int ChunksPerTurn = 3;

    private string _projectId = "";
    private bool _continuationQueued;
    // A run started by sync/run is a person asking: it looks up every queued email, fresh from realtime or not.
    private bool _lookUpFresh;
    // Where the current run's interval began (the previous tick): a realtime answer since then makes an email fresh.
    private DateTimeOffset? _intervalStart;
    private IGrainTimer? _retryTimer;

    private SyncSchedulerState S => state.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _projectId = GrainKeys.ParseSyncScheduler(this.GetPrimaryKeyString());
        // A run that was cut short by a crash or a deactivation goes on.
        if ((await queue.CountAsync(_projectId, cancellationToken)).InRun > 0) QueueContinuation();
    }

    public async Task<int> RunNowAsync()
    {
        _lookUpFresh = true;
        var running = await StartRunAsync();
        await state.WriteStateAsync();
        QueueContinuation();
        return running;
    }

    public async Task EnsureScheduledAsync()
    {
        var settings = (await directory.GetAsync(_projectId))?.Settings;
        if (settings is not null && await EnsureReminderAsync(settings)) await state.WriteStateAsync();
    }

    public async Task SettingsChangedAsync()
    {
        // Straight from the project grain: the per-silo directory may not have seen the change yet.
        var settings = (await GrainFactory.GetGrain<IProjectGrain>(GrainKeys.Project(_projectId)).GetAsync())?.Settings;
        if (settings is not null && await EnsureReminderAsync(settings)) await state.WriteStateAsync();
    }

    public async Task<SyncSchedulerStatus> GetStatusAsync()
    {
        var (waiting, inRun) = await queue.CountAsync(_projectId);
        return new SyncSchedulerStatus(waiting, inRun, S.ReminderIntervalMinutes, S.LastTickAt, S.LastRunCompletedAt, S.LastError, S.Calls);
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != ReminderName) return;
        var settings = (await directory.GetAsync(_projectId))?.Settings;
        if (settings is null || !settings.PeriodicSync.Enabled)
        {
            if (await EnsureReminderAsync(settings)) await state.WriteStateAsync();
            return;
        }
        if (await queue.CountAsync(_projectId) is (0, 0)) return;   // nothing seen: no write, no call
        await StartRunAsync();
        await state.WriteStateAsync();
        QueueContinuation();
    }

    public async Task ContinueRunAsync()
    {
        _continuationQueued = false;
        var settings = (await directory.GetAsync(_projectId))?.Settings;
        if (settings is null) return;

        var more = true;
        for (var i = 0; i < ChunksPerTurn && more; i++)
        {
            var taken = await queue.NextInRunAsync(_projectId, LeadLookupExecutor.MaxKeysPerCall);
            if (taken.Count == 0)
            {
                more = false;
                break;
            }
            var chunk = await SkipFreshAsync(settings, taken);
            if (chunk.Count == 0)
            {
                more = taken.Count == LeadLookupExecutor.MaxKeysPerCall;
                continue;
            }
            LookupBatchOutcome outcome;
            try
            {
                outcome = await executor.LookupAsync(_projectId, settings, LeadKeyType.Email, chunk, MarketoCallPurpose.Periodic);
            }
            catch (Exception ex)
            {
                LogRunFailed(ex, _projectId);
                await StopRunAsync($"periodic lookup failed: {ex.GetType().Name}");
                return;
            }
            S.Calls += outcome.Calls;

            var sample = outcome.Results.Values.FirstOrDefault();
            if (outcome.Deferred is { } deferred)
            {
                if (deferred.Reason.IsShortWait() && deferred.Delay < TimeSpan.FromMinutes(settings.PeriodicSync.IntervalMinutes))
                {
                    // A short wait: go on later in this run rather than at the next tick.
                    S.LastError = sample?.Error;
                    await state.WriteStateAsync();
                    _retryTimer?.Dispose();
                    _retryTimer = this.RegisterGrainTimer(_ =>
                    {
                        _retryTimer?.Dispose();
                        _retryTimer = null;
                        return ContinueRunAsync();
                    }, new GrainTimerCreationOptions(deferred.Delay > TimeSpan.Zero ? deferred.Delay : TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan));
                    return;
                }
                // The day's budget, or Marketo said 606/615/607: nothing was looked up; the next tick tries again.
                await StopRunAsync(sample?.Error);
                return;
            }
            if (sample is not null && outcome.Results.Values.All(r => r.Result == SyncResult.Failed))
            {
                await StopRunAsync(sample.Error);   // Marketo failing: keep them for the next tick
                return;
            }

            var (delivered, failed) = await LookupResultDelivery.DeliverAsync(GrainFactory, _projectId, LeadKeyType.Email, chunk,
                outcome.Results, missing: null);
            await queue.CompleteAsync(_projectId, delivered);
            if (failed.Count > 0)
            {
                // The undelivered emails stay in the queue; the next tick looks them up again.
                LogDeliveryFailed(failed[0].Error, _projectId, failed.Count);
                await StopRunAsync($"handing {failed.Count} lookup result(s) to their keys failed");
                return;
            }
            S.LastError = outcome.Results.Values.Select(r => r.Error).FirstOrDefault(e => e is not null);
            more = taken.Count == LeadLookupExecutor.MaxKeysPerCall;
        }

        if (!more)
        {
            S.LastRunCompletedAt = time.GetUtcNow();
            _lookUpFresh = false;
        }
        // Once per turn: a crash in between only repeats the lookups of a chunk whose results were handed over but not
        // yet removed from the queue (their results are idempotent).
        await state.WriteStateAsync();
        if (more) QueueContinuation();
    }

    /// <summary>Emails a realtime lookup answered within the last interval are fresh: they are taken off the run
    /// without a lookup (one lookup per key per interval), unless the run was asked for by sync/run.</summary>
    private async Task<IReadOnlyList<string>> SkipFreshAsync(ProjectSettings settings, IReadOnlyList<string> taken)
    {
        if (_lookUpFresh) return taken;
        // Marks live on queued rows only and go with them, so a mark is from the time the email waited; after a restart
        // mid-run the interval is taken as the last one.
        var since = _intervalStart ?? time.GetUtcNow() - TimeSpan.FromMinutes(settings.PeriodicSync.IntervalMinutes);
        var fresh = await queue.LookedUpSinceAsync(_projectId, taken, since);
        if (fresh.Count == 0) return taken;
        await queue.CompleteAsync(_projectId, [.. fresh]);
        S.Skipped += fresh.Count;
        return [.. taken.Where(e => !fresh.Contains(e))];
    }

    /// <summary>Moves the waiting emails into the run (a run in progress just grows); returns the run's size.</summary>
    private async Task<int> StartRunAsync()
    {
        var running = await queue.StartRunAsync(_projectId);
        _intervalStart = S.LastTickAt ?? DateTimeOffset.MinValue;
        S.LastTickAt = time.GetUtcNow();
        return running;
    }

    /// <summary>Gives the rest of the run back to waiting: the next tick tries again.</summary>
    private async Task StopRunAsync(string? error)
    {
        await queue.StopRunAsync(_projectId);
        S.LastError = error;
        await state.WriteStateAsync();
    }

    private void QueueContinuation()
    {
        if (_continuationQueued) return;
        _continuationQueued = true;
        // One-way: returns at once; the call is queued behind this turn.
        _ = this.AsReference<ISyncSchedulerGrain>().ContinueRunAsync();
    }

    /// <summary>Registers, re-registers (the interval changed) or drops the reminder. Returns whether the state changed.</summary>
    private async Task<bool> EnsureReminderAsync(ProjectSettings? settings)
    {
        if (settings is { PeriodicSync.Enabled: true })
        {
            var minutes = settings.PeriodicSync.IntervalMinutes;
            if (S.ReminderIntervalMinutes == minutes) return false;
            var period = TimeSpan.FromMinutes(minutes);
            await this.RegisterOrUpdateReminder(ReminderName, period, period);
            S.ReminderIntervalMinutes = minutes;
            return true;
        }
        if (S.ReminderIntervalMinutes is null) return false;
        if (await this.GetReminder(ReminderName) is { } reminder) await this.UnregisterReminder(reminder);
        S.ReminderIntervalMinutes = null;
        return true;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project {ProjectId}: handing {Count} periodic lookup result(s) to their keys failed; they wait for the next tick")]
    private partial void LogDeliveryFailed(Exception ex, string projectId, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Project {ProjectId}: a periodic lookup threw; the emails stay pending")]
    private partial void LogRunFailed(Exception ex, string projectId);
}
