using KarteMarketo.Marketo;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Identity;
using KarteMarketo.Grains.Projects;
using KarteMarketo.Grains.Storage;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>What a <see cref="LeadBacklogGrain"/> persists: the instance the project's leads belong to, and figures.</summary>
[GenerateSerializer, Alias("KarteMarketo.LeadBacklogState")]
public sealed class LeadBacklogState
{
    /// <summary>The Marketo instance the project used when its settings were last seen (null: not seen yet).</summary>
    [Id(0)] public string? Instance { get; set; }

    [Id(1)] public DateTimeOffset? LastDrainAt { get; set; }

    [Id(2)] public string? LastError { get; set; }

    [Id(3)] public long Calls { get; set; }

    /// <summary>Whether the wake-up reminder is registered (it is while keys wait).</summary>
    [Id(4)] public bool ReminderRegistered { get; set; }
}

/// <summary>
/// The keys a project looks up again by itself (<c>r:{project}</c>, <see cref="ILeadKeyBacklog"/>): keys deferred for
/// lack of a permit and keys a resync queued. Drains due keys 300 per Marketo call (email keys first), a few calls per
/// turn, and hands each result to its key grain. A refused permit postpones the keys until the quota says (the next
/// window, or Marketo's midnight); a grain timer wakes it then, and a reminder, registered while keys wait, wakes it
/// after a restart.
/// </summary>
[GrainType("lead-backlog")]
public sealed partial class LeadBacklogGrain(
    [PersistentState("lead-backlog-state", StorageNames.Grains)] IPersistentState<LeadBacklogState> state,
    IProjectDirectory directory,
    ILeadKeyBacklog backlog,
    IUserStore users,
    LeadLookupExecutor executor,
    TimeProvider time,
    ILogger<LeadBacklogGrain> logger) : Grain, ILeadBacklogGrain, IRemindable
{
    public const string ReminderName = "lead-backlog";

    /// <summary>How often the reminder checks for due keys while some wait (Orleans' shortest reminder period).</summary>
    public static readonly TimeSpan ReminderPeriod = TimeSpan.FromMinutes(1);

    /// <summary>Marketo calls per grain turn (as the periodic scheduler).</summary>
    public const int ChunksPerTurn = 3;

    /// <summary>Keys read per page when a resync lists every known key.</summary>
    private const int ResyncPage = 1_000;

    /// <summary>Where Marketo itself deferred (606/615/607) or failed, how long the keys wait before the next try; the
    /// quota grain's refusal then says how much longer (after a 607, until Marketo's midnight).</summary>
    private static readonly TimeSpan DeferredWait = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan FailedWait = TimeSpan.FromMinutes(5);

    private static readonly LeadKeyType[] Types = [LeadKeyType.Email, LeadKeyType.Cookie];

    private string _projectId = "";
    private IGrainTimer? _timer;
    private DateTimeOffset? _timerDue;
    private bool _continuationQueued;

    private LeadBacklogState S => state.State;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _projectId = GrainKeys.ParseLeadBacklog(this.GetPrimaryKeyString());
        return Task.CompletedTask;
    }

    public async Task WakeAtAsync(DateTimeOffset dueAt)
    {
        await EnsureReminderAsync();
        ScheduleAt(dueAt);
    }

    public async Task<ResyncAccepted> ResyncAllAsync()
    {
        var now = time.GetUtcNow();
        var keys = 0;
        var calls = 0;
        foreach (var type in Types)
        {
            var ofType = 0;
            string? after = null;
            while (true)
            {
                var page = await users.ListKeyValuesAsync(_projectId, type, after, ResyncPage);
                if (page.Count == 0) break;
                await backlog.AddAsync(_projectId, type, page, now);
                ofType += page.Count;
                after = page[^1];
                if (page.Count < ResyncPage) break;
            }
            keys += ofType;
            calls += CallsFor(ofType);
        }
        if (keys > 0)
        {
            await EnsureReminderAsync();
            QueueContinuation();
        }
        LogResync(_projectId, keys, calls);
        return new ResyncAccepted(keys, calls);
    }

    public async Task<ResyncAccepted> EstimateResyncAsync()
    {
        var keys = 0;
        var calls = 0;
        foreach (var type in Types)
        {
            var ofType = await users.CountKeyValuesAsync(_projectId, type);
            keys += ofType;
            calls += CallsFor(ofType);
        }
        return new ResyncAccepted(keys, calls);
    }

    /// <summary>Marketo calls for a resync of <paramref name="keys"/> keys of one type: one per 300 (keys of two types
    /// never share a call). The one rule behind both the resync's answer and its estimate.</summary>
    internal static int CallsFor(int keys) => (keys + LeadLookupExecutor.MaxKeysPerCall - 1) / LeadLookupExecutor.MaxKeysPerCall;

    public async Task SettingsChangedAsync()
    {
        // Straight from the project grain: this silo's directory may not have seen the change yet.
        var settings = (await GrainFactory.GetGrain<IProjectGrain>(GrainKeys.Project(_projectId)).GetAsync())?.Settings;
        if (settings is null) return;
        var instance = settings.Marketo.InstanceId;
        if (S.Instance == instance) return;
        var previous = S.Instance;
        S.Instance = instance;
        if (previous is not null)
        {
            // Lead ids of the old instance may name other people on the new one: drop them from the users now (the
            // key grains forget theirs as they are next used), then look every key up on the new instance.
            var forgotten = await users.ForgetOtherInstancesAsync(_projectId, instance);
            LogInstanceMoved(_projectId, previous, instance, forgotten);
        }
        await state.WriteStateAsync();
        if (previous is not null) await ResyncAllAsync();
    }

    public async Task<LeadBacklogStatus> GetStatusAsync()
    {
        var (count, next) = await backlog.CountAsync(_projectId);
        return new LeadBacklogStatus(count, next, S.LastDrainAt, S.LastError, S.Calls);
    }

    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == ReminderName) QueueContinuation();
        return Task.CompletedTask;
    }

    public async Task ContinueAsync()
    {
        _continuationQueued = false;
        var settings = (await directory.GetAsync(_projectId))?.Settings;
        if (settings is null)
        {
            await DropReminderAsync();
            return;
        }

        for (var chunk = 0; chunk < ChunksPerTurn; chunk++)
        {
            var now = time.GetUtcNow();
            (LeadKeyType Type, IReadOnlyList<string> Keys)? due = null;
            foreach (var type in Types)
            {
                var keys = await backlog.DueAsync(_projectId, type, now, LeadLookupExecutor.MaxKeysPerCall);
                if (keys.Count > 0)
                {
                    due = (type, keys);
                    break;
                }
            }
            if (due is not { } work)
            {
                await IdleAsync();
                return;
            }
            if (!await DrainAsync(settings, work.Type, work.Keys)) return;
        }
        QueueContinuation();
    }

    /// <summary>Looks one chunk up and hands the results over; false when the chunk had to wait (the drain stops).</summary>
    private async Task<bool> DrainAsync(ProjectSettings settings, LeadKeyType type, IReadOnlyList<string> keys)
    {
        LookupBatchOutcome outcome;
        try
        {
            outcome = await executor.LookupAsync(_projectId, settings, type, keys, MarketoCallPurpose.Periodic);
        }
        catch (Exception ex)
        {
            LogDrainFailed(ex, _projectId);
            await WaitAsync(type, keys, FailedWait, $"backlog lookup failed: {ex.GetType().Name}");
            return false;
        }
        S.Calls += outcome.Calls;
        var sample = outcome.Results.Values.FirstOrDefault();
        if (outcome.Deferred is { Reason: var reason } denied && reason.IsOurQuota())
        {
            await WaitAsync(type, keys, denied.Delay > TimeSpan.Zero ? denied.Delay : TimeSpan.FromSeconds(1), sample?.Error);
            return false;
        }
        if (sample is not null && outcome.Results.Values.All(r => r.Result == SyncResult.Deferred))
        {
            await WaitAsync(type, keys, DeferredWait, sample.Error);
            return false;
        }
        if (sample is not null && outcome.Results.Values.All(r => r.Result == SyncResult.Failed))
        {
            await WaitAsync(type, keys, FailedWait, sample.Error);
            return false;
        }

        // The key has been looked up: one whose delivery failed hears again at its next lookup.
        var (_, undelivered) = await LookupResultDelivery.DeliverAsync(GrainFactory, _projectId, type, keys, outcome.Results, missing: null);
        foreach (var (key, error) in undelivered) LogDeliveryFailed(error, _projectId, key.Length);
        await backlog.RemoveAsync(_projectId, type, keys);
        S.LastDrainAt = time.GetUtcNow();
        S.LastError = null;
        await state.WriteStateAsync();
        return true;
    }

    /// <summary>The keys wait: postponed in the store, and a timer set for when they are due.</summary>
    private async Task WaitAsync(LeadKeyType type, IReadOnlyList<string> keys, TimeSpan wait, string? error)
    {
        var dueAt = time.GetUtcNow() + wait;
        await backlog.PostponeAsync(_projectId, type, keys, dueAt);
        S.LastError = error;
        await state.WriteStateAsync();
        await EnsureReminderAsync();
        ScheduleAt(dueAt);
    }

    /// <summary>Nothing due now: wait for the earliest key, or drop the reminder when none is left.</summary>
    private async Task IdleAsync()
    {
        var (count, next) = await backlog.CountAsync(_projectId);
        if (count == 0)
        {
            await DropReminderAsync();
            return;
        }
        if (next is { } at) ScheduleAt(at);
    }

    private void ScheduleAt(DateTimeOffset dueAt)
    {
        var wait = dueAt - time.GetUtcNow();
        if (wait <= TimeSpan.Zero)
        {
            QueueContinuation();
            return;
        }
        if (_timerDue is { } current && current <= dueAt && _timer is not null) return;   // an earlier wake-up covers it
        _timer?.Dispose();
        _timerDue = dueAt;
        _timer = this.RegisterGrainTimer(_ =>
        {
            _timer?.Dispose();
            _timer = null;
            _timerDue = null;
            QueueContinuation();
            return Task.CompletedTask;
        }, new GrainTimerCreationOptions(wait, Timeout.InfiniteTimeSpan) { KeepAlive = true });
    }

    private async Task EnsureReminderAsync()
    {
        if (S.ReminderRegistered) return;
        await this.RegisterOrUpdateReminder(ReminderName, ReminderPeriod, ReminderPeriod);
        S.ReminderRegistered = true;
        await state.WriteStateAsync();
    }

    private async Task DropReminderAsync()
    {
        if (!S.ReminderRegistered) return;
        if (await this.GetReminder(ReminderName) is { } reminder) await this.UnregisterReminder(reminder);
        S.ReminderRegistered = false;
        await state.WriteStateAsync();
    }

    private void QueueContinuation()
    {
        if (_continuationQueued) return;
        _continuationQueued = true;
        _ = this.AsReference<ILeadBacklogGrain>().ContinueAsync();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Project {ProjectId}: resync queued {Keys} keys ({Calls} Marketo calls)")]
    private partial void LogResync(string projectId, int keys, int calls);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project {ProjectId} moved from Marketo instance {Previous} to {Instance}: {Users} users' leads dropped, every key looked up again")]
    private partial void LogInstanceMoved(string projectId, string previous, string instance, int users);

    [LoggerMessage(Level = LogLevel.Error, Message = "Project {ProjectId}: a backlog lookup threw; the keys wait")]
    private partial void LogDrainFailed(Exception ex, string projectId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project {ProjectId}: handing a backlog result to its key failed (key of {Length} chars)")]
    private partial void LogDeliveryFailed(Exception ex, string projectId, int length);
}
