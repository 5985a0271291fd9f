using KarteMarketo.Contracts.Sync;
using KarteMarketo.Grains.Projects;
using KarteMarketo.Grains.Storage;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Sync;

/// <summary>
/// The periodic sync of one project (<c>s:{project}</c>). Emails arrive in bulk from the per-silo
/// <see cref="IdentifyEmailCollector"/> and are persisted as pending. A reminder every <c>intervalMinutes</c> (or
/// <c>sync/run</c>) starts a run over them: 300 emails per Marketo call, a few calls per grain turn, the next turn
/// queued by a one-way call to itself. What the quota does not allow goes back to pending for the next tick.
/// </summary>
[GrainType("sync-scheduler")]
public sealed partial class SyncSchedulerGrain(
    [PersistentState("sync-scheduler-state", StorageNames.Grains)] IPersistentState<SyncSchedulerState> state,
    IProjectDirectory directory,
    LeadLookupExecutor executor,
    TimeProvider time,
    ILogger<SyncSchedulerGrain> logger) : Grain, ISyncSchedulerGrain, IRemindable
{
    public const string ReminderName = "periodic-sync";

    /// <summary>Marketo calls per grain turn: each is a few milliseconds plus 300 grain calls to hand results over.</summary>
    public const int ChunksPerTurn = 3;

    private string _projectId = "";
    private bool _continuationQueued;
    private IGrainTimer? _retryTimer;

    private SyncSchedulerState S => state.State;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _projectId = this.GetPrimaryKeyString()[2..];
        // A run that was cut short by a crash or a deactivation goes on.
        if (S.Running.Count > 0) QueueContinuation();
        return Task.CompletedTask;
    }

    public async Task AddEmailsAsync(IReadOnlyList<string> emails)
    {
        var running = S.Running.Count > 0 ? new HashSet<string>(S.Running, StringComparer.Ordinal) : null;
        var added = false;
        foreach (var email in emails)
        {
            if (running?.Contains(email) == true) continue;   // the current run looks it up anyway
            added |= S.Pending.Add(email);
        }
        var settings = (await directory.GetAsync(_projectId))?.Settings;
        var reminderChanged = settings is not null && await EnsureReminderAsync(settings);
        if (added || reminderChanged) await state.WriteStateAsync();
    }

    public async Task<int> RunNowAsync()
    {
        StartRun();
        await state.WriteStateAsync();
        QueueContinuation();
        return S.Running.Count;
    }

    public async Task SettingsChangedAsync()
    {
        // Straight from the project grain: the per-silo directory may not have seen the change yet.
        var settings = (await GrainFactory.GetGrain<IProjectGrain>(GrainKeys.Project(_projectId)).GetAsync())?.Settings;
        if (settings is not null && await EnsureReminderAsync(settings)) await state.WriteStateAsync();
    }

    public Task<SyncSchedulerStatus> GetStatusAsync() => Task.FromResult(new SyncSchedulerStatus(
        S.Pending.Count, S.Running.Count, S.ReminderIntervalMinutes, S.LastTickAt, S.LastRunCompletedAt, S.LastError, S.Calls));

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != ReminderName) return;
        var settings = (await directory.GetAsync(_projectId))?.Settings;
        if (settings is null || !settings.PeriodicSync.Enabled)
        {
            if (await EnsureReminderAsync(settings)) await state.WriteStateAsync();
            return;
        }
        if (S.Pending.Count == 0 && S.Running.Count == 0) return;   // nothing seen: no write, no call
        StartRun();
        await state.WriteStateAsync();
        QueueContinuation();
    }

    public async Task ContinueRunAsync()
    {
        _continuationQueued = false;
        var settings = (await directory.GetAsync(_projectId))?.Settings;
        if (settings is null || S.Running.Count == 0) return;

        for (var i = 0; i < ChunksPerTurn && S.Running.Count > 0; i++)
        {
            var chunk = S.Running.Take(LeadLookupExecutor.MaxKeysPerCall).ToList();
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
            if (outcome.Denied is { } denied)
            {
                if (denied.Denial is QuotaDenial.RateWindow or QuotaDenial.Concurrency or QuotaDenial.BackingOff
                    && denied.RetryAfter < TimeSpan.FromMinutes(settings.PeriodicSync.IntervalMinutes))
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
                    }, new GrainTimerCreationOptions(denied.RetryAfter > TimeSpan.Zero ? denied.RetryAfter : TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan));
                    return;
                }
                await StopRunAsync(sample?.Error);
                return;
            }
            if (sample is not null && outcome.Results.Values.All(r => r.Result == SyncResult.Deferred))
            {
                await StopRunAsync(sample.Error);   // Marketo said 606/615/607: nothing was looked up
                return;
            }
            if (sample is not null && outcome.Results.Values.All(r => r.Result == SyncResult.Failed))
            {
                await StopRunAsync(sample.Error);   // Marketo failing: keep them for the next tick
                return;
            }

            await Task.WhenAll(chunk.Select(email => outcome.Results.TryGetValue(email, out var result)
                ? GrainFactory.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(_projectId, LeadKeyType.Email, email)).ApplyLookupResultAsync(result)
                : Task.CompletedTask));

            S.Running.RemoveRange(0, chunk.Count);
            S.LastError = outcome.Results.Values.Select(r => r.Error).FirstOrDefault(e => e is not null);
            if (S.Running.Count == 0) S.LastRunCompletedAt = time.GetUtcNow();
        }

        // Once per turn, not per chunk: the state holds every pending email, and a crash in between only repeats a
        // few lookups (their results are idempotent).
        await state.WriteStateAsync();
        if (S.Running.Count > 0) QueueContinuation();
    }

    /// <summary>Moves the pending emails into the run (a run in progress just grows).</summary>
    private void StartRun()
    {
        if (S.Pending.Count > 0)
        {
            var running = new HashSet<string>(S.Running, StringComparer.Ordinal);
            foreach (var email in S.Pending.Order(StringComparer.Ordinal))
                if (running.Add(email)) S.Running.Add(email);
            S.Pending.Clear();
        }
        S.LastTickAt = time.GetUtcNow();
    }

    /// <summary>Gives the rest of the run back to pending: the next tick tries again.</summary>
    private async Task StopRunAsync(string? error)
    {
        foreach (var email in S.Running) S.Pending.Add(email);
        S.Running.Clear();
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

    [LoggerMessage(Level = LogLevel.Error, Message = "Project {ProjectId}: a periodic lookup threw; the emails stay pending")]
    private partial void LogRunFailed(Exception ex, string projectId);
}
