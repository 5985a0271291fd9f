using System.Text.Json.Nodes;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Projects;
using KarteMarketo.Grains.Storage;
using KarteMarketo.Grains.Identity;
using KarteMarketo.Grains.Flows.KarteWriteBack;
using Microsoft.Extensions.Options;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>
/// One lookup key of a project (<c>k:{project}/{email|cookie}/{value}</c>): links users, owns the realtime resync window,
/// the lead id and the last outcome, and writes a found lead to every linked user. Email keys are tried first and hand
/// over to the identify's cookie where no lead matched.
/// </summary>
[GrainType("lead-key")]
public sealed class LeadKeyGrain(
    [PersistentState("lead-key-state", StorageNames.LeadKeys)] IPersistentState<LeadKeyState> state,
    IProjectDirectory directory,
    IUserStore users,
    IPendingLookupJournal journal,
    IdentifyShortcuts shortcuts,
    KarteWriteBackService writeBack,
    IOptions<LeadSyncOptions> options,
    TimeProvider time) : Grain, ILeadKeyGrain, IIncomingGrainCallFilter
{
    /// <summary>A key waiting in the backlog this long is taken as lost from it (a backlog row can only be lost with
    /// the embedded default's memory): an identify may then look it up again. A day and a bit: the longest wait is
    /// the one for Marketo's midnight.</summary>
    public static readonly TimeSpan BacklogTrustedFor = TimeSpan.FromHours(26);

    private string _projectId = "";
    private LeadKeyType _type;
    private string _value = "";
    private readonly List<TaskCompletionSource<LeadIdResolution>> _resolutionWaiters = [];
    private DateTimeOffset? _recoveredAt;
    private LeadKeyId _id;
    private int _callsRunning;

    /// <summary>The key's users, oldest link first: a cache of the user store's links (which own them), read at
    /// activation and changed only after the store's write. At most <see cref="LeadKeyLinks.MaxUsersPerKey"/> (one
    /// more until the next link where a crash came between a link and the drop it made due).</summary>
    private List<string> _linked = [];

    private LeadKeyState S => state.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_projectId, _type, _value) = GrainKeys.ParseLeadKey(this.GetPrimaryKeyString());
        _id = new LeadKeyId(_projectId, _type, _value);
        // A key never stored has no links yet: its first link writes the state (see LinkAsync), so new keys read nothing more.
        if (state.RecordExists) await LoadLinksAsync(cancellationToken);
    }

    private async Task LoadLinksAsync(CancellationToken cancellationToken = default) =>
        _linked = [.. await users.ListUsersOfKeyAsync(_projectId, _type, _value, LeadKeyLinks.MaxUsersPerKey + 1, cancellationToken)];

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        shortcuts.Withdraw(_id);
        return Task.CompletedTask;
    }

    /// <summary>Keeps this silo's <see cref="IdentifyShortcuts"/> entry for the key true: withdrawn before any call can
    /// change the state, published again from the state once no call is running (interleaving ones included).</summary>
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (_callsRunning++ == 0) shortcuts.Withdraw(_id);
        try
        {
            await context.Invoke();
        }
        finally
        {
            if (--_callsRunning == 0) await PublishShortcutAsync();
        }
    }

    /// <summary>States which identifies would change nothing now: mirrors <see cref="IdentifyAsync"/> (the instance,
    /// the window test of <see cref="OutsideWindow"/>, the backlog, the cookie hand-over and pending fallbacks) and
    /// <see cref="LinkUserAsync"/>. Anything it leaves out only sends identifies to the grain.</summary>
    private async Task PublishShortcutAsync()
    {
        Contracts.Projects.ProjectRecord? record;
        try
        {
            record = await directory.GetAsync(_projectId);
        }
        catch (Exception)
        {
            return;   // no statement is always safe: the endpoint calls the grain
        }
        if (record is null || _callsRunning != 0) return;
        var settings = record.Settings;
        // Learned on another instance than the project's (AdoptInstance would forget it): the next identify must come.
        if (S.Instance != settings.Marketo.InstanceId) return;
        var realtime = RealtimeApplies(settings, _type);
        var noOpUntil = !realtime ? DateTimeOffset.MaxValue
            : S.LastRequestAt is not { } start ? DateTimeOffset.MinValue
            : S.LastResult == SyncResult.Pending ? DateTimeOffset.MaxValue   // its answer (or its recovery) is a call here, which withdraws this
            : start + TimeSpan.FromSeconds(settings.RealtimeSync.ResyncWindowSeconds);
        // Deferred into the backlog: identifies ask nothing until it has answered (see WaitingInBacklog).
        if (realtime && S.LastResult == SyncResult.Deferred && S.BackloggedAt is { } backlogged && backlogged + BacklogTrustedFor > noOpUntil)
            noOpUntil = backlogged + BacklogTrustedFor;
        var cookieNoOp = LeadKeyPolicy.CookieFallbackNow(realtime, S.LastResult) == CookieFallback.NotNeeded;
        shortcuts.Publish(_id, new IdentifyShortcut([.. _linked], record.Version, noOpUntil, cookieNoOp));
    }

    public async Task IdentifyAsync(IdentifyCommand command)
    {
        var settings = (await directory.GetAsync(_projectId))?.Settings;
        var now = time.GetUtcNow();
        var dirty = AdoptInstance(settings);
        dirty |= await LinkAsync(command.UserId);

        var lookup = false;
        var handOver = false;
        if (settings is not null && RealtimeApplies(settings, _type) && OutsideWindow(settings, now) && !WaitingInBacklog(now))
        {
            S.PreviousRequestAt = S.LastRequestAt;
            S.LastRequestAt = now;
            S.LastResult = SyncResult.Pending;
            S.CookieFallbacks.Clear();
            if (command.CookieFallback is not null) S.CookieFallbacks[command.UserId] = command.CookieFallback;
            dirty = true;
            lookup = true;
        }
        else if (command.CookieFallback is not null && _type == LeadKeyType.Email && settings is not null)
        {
            switch (LeadKeyPolicy.CookieFallbackNow(RealtimeApplies(settings, _type), S.LastResult))
            {
                case CookieFallback.HandOver:
                    handOver = true;      // the email cannot find this user's lead: the cookie may
                    break;
                case CookieFallback.WaitForAnswer:
                    S.CookieFallbacks[command.UserId] = command.CookieFallback;   // remembered for the pending answer (in memory until the next write)
                    break;
            }
        }

        try
        {
            // Journal first: a crash after it leaves a record the recovery finds; a crash before it leaves nothing pending.
            if (lookup) await journal.MarkAsync(_projectId, _type, _value, now);
            if (dirty) await state.WriteStateAsync();
        }
        catch
        {
            // The state above changed in memory only: start again from what is stored (the caller sees the failure).
            DeactivateOnIdle();
            throw;
        }
        if (lookup) await QueueRealtimeLookupAsync();
        if (handOver)
            await CookieGrain(command.CookieFallback!).IdentifyAsync(new IdentifyCommand(command.UserId, null));
    }

    public async Task LinkUserAsync(string userId)
    {
        var dirty = AdoptInstance((await directory.GetAsync(_projectId))?.Settings);
        if (await LinkAsync(userId) | dirty) await state.WriteStateAsync();
    }

    public async Task UnlinkUserAsync(string userId)
    {
        // The store has ended the link (the user's newer email won): the list is read from it again.
        await LoadLinksAsync();
        if (S.CookieFallbacks.Remove(userId)) await state.WriteStateAsync();
    }

    public async Task ForgetLeadIdAsync(long leadId)
    {
        if (S.LeadId != leadId) return;
        // The user info stays until the lookup this makes the next resolution do says what became of the lead.
        S.LeadId = null;
        await state.WriteStateAsync();
    }

    public async Task RecoverLookupAsync()
    {
        var now = time.GetUtcNow();
        if (S.LastResult != SyncResult.Pending || (await directory.GetAsync(_projectId)) is null)
        {
            await journal.ClearAsync(_projectId, _type, [_value], now);
            return;
        }
        // Every silo scans: a second wake-up for the lookup this activation already queued again is ignored.
        if (_recoveredAt is { } last && now - last < options.Value.PendingLookupRecoveryAfter) return;
        _recoveredAt = now;
        await journal.MarkAsync(_projectId, _type, _value, now);
        await QueueRealtimeLookupAsync();
    }

    private Task QueueRealtimeLookupAsync() =>
        GrainFactory.GetGrain<ILeadLookupBatcher>(GrainKeys.LookupBatcher(_projectId, _type))
            .EnqueueAsync(new LeadLookupRequest(_value, MarketoCallPurpose.Realtime));

    public async Task<LeadKeyView> GetAsync()
    {
        var settings = (await directory.GetAsync(_projectId))?.Settings;
        AdoptInstance(settings);   // a read: what it forgot is written with the key's next change
        DateTimeOffset? nextEligible = S.LastRequestAt is { } start && settings is not null
            ? start + TimeSpan.FromSeconds(settings.RealtimeSync.ResyncWindowSeconds)
            : null;
        return new LeadKeyView([.. _linked], S.LeadId, S.LastResult, S.LastError, S.LastRequestAt, nextEligible, S.DroppedLinks);
    }

    public async Task<LeadIdResolution> ResolveLeadIdAsync(MarketoCallPurpose purpose)
    {
        // Interleaves with the other calls on purpose: it waits for the answer, which arrives as ApplyLookupResultAsync.
        AdoptInstance((await directory.GetAsync(_projectId))?.Settings);
        if (S.LeadId is { } known) return new LeadIdResolution(LeadIdStatus.Found, known, null);
        var waiter = new TaskCompletionSource<LeadIdResolution>(TaskCreationOptions.RunContinuationsAsynchronously);
        _resolutionWaiters.Add(waiter);
        await GrainFactory.GetGrain<ILeadLookupBatcher>(GrainKeys.LookupBatcher(_projectId, _type))
            .EnqueueAsync(new LeadLookupRequest(_value, purpose));
        return await waiter.Task;
    }

    public async Task RecordLeadIdAsync(long leadId)
    {
        // The id comes from the upsert the project just made, so from its current instance.
        if (!AdoptInstance((await directory.GetAsync(_projectId))?.Settings) && S.LeadId == leadId) return;
        S.LeadId = leadId;
        await state.WriteStateAsync();
    }

    public async Task ApplyLookupResultAsync(LeadLookupResult result)
    {
        var settings = (await directory.GetAsync(_projectId))?.Settings;
        AdoptInstance(settings);
        if (settings is not null && result.Instance is { } answeredBy && answeredBy != settings.Marketo.InstanceId)
        {
            // An answer of the instance the project left: its lead id may be another person here. Nothing is kept.
            CompleteWaiters(new LeadIdResolution(LeadIdStatus.Deferred, null, "the project moved to another Marketo instance"));
            if (S.LastResult == SyncResult.Pending) await state.WriteStateAsync();
            return;
        }
        var handOvers = new List<(string User, string Cookie)>();
        UserSyncUpdate? update = null;
        var hadLead = S.LeadId is not null || S.LastIdentifyJson is not null;
        var leadGone = false;

        switch (result.Result)
        {
            case SyncResult.Deferred:
                S.BackloggedAt = result.Backlogged ? result.At : null;
                if (result.Purpose == MarketoCallPurpose.Realtime && S.LastResult == SyncResult.Pending)
                {
                    // No permit: the window is not started. The backlog looks the key up by itself once the budget
                    // allows (its cookie fallbacks stay for that answer); without it, the next identify tries again.
                    S.LastRequestAt = S.PreviousRequestAt;
                    S.LastResult = SyncResult.Deferred;
                    S.LastError = result.Error;
                    if (!result.Backlogged) S.CookieFallbacks.Clear();
                }
                else if (S.LastResult is null or SyncResult.Deferred)
                {
                    S.LastResult = SyncResult.Deferred;
                    S.LastError = result.Error;
                }
                else
                {
                    CompleteWaiters(new LeadIdResolution(LeadIdStatus.Deferred, null, result.Error));
                    return;     // an older outcome stays; nothing to write
                }
                CompleteWaiters(new LeadIdResolution(LeadIdStatus.Deferred, null, result.Error));
                break;

            case SyncResult.Synced when result.LeadId is { } leadId && result.LeadJson is not null && settings is not null:
            {
                var lead = JsonNode.Parse(result.LeadJson)!.AsObject();
                var built = UserInfoBuilder.Build(lead, settings.Marketo, settings.FieldMappings,
                    _type == LeadKeyType.Email ? _value : null, result.At);
                var errors = new List<string>();
                if (result.Error is not null) errors.Add(result.Error);
                errors.AddRange(built.Errors);
                S.LeadId = leadId;
                S.LastResult = SyncResult.Synced;
                S.LastError = errors.Count == 0 ? null : string.Join("; ", errors);
                S.LastResultAt = result.At;
                S.LastIdentifyJson = built.Identify.ToJsonString();
                S.CookieFallbacks.Clear();
                S.BackloggedAt = null;
                update = new UserSyncUpdate(_type, leadId, S.LastIdentifyJson, result.At, settings.Marketo.InstanceId)
                    { Karte = KarteWriteBackService.UserInfoWriteFor(settings) };
                CompleteWaiters(new LeadIdResolution(LeadIdStatus.Found, leadId, null));
                break;
            }

            case SyncResult.NotFound:
                // A lead this key had is gone (deleted, or merged into another): its users lose it.
                leadGone = hadLead;
                S.LeadId = null;
                S.LastIdentifyJson = null;
                S.BackloggedAt = null;
                S.LastResult = SyncResult.NotFound;
                S.LastError = result.Error;
                S.LastResultAt = result.At;
                if (LeadKeyPolicy.HandsOverOnNotFound(_type)) handOvers.AddRange(S.CookieFallbacks.Select(kv => (kv.Key, kv.Value)));
                S.CookieFallbacks.Clear();
                CompleteWaiters(new LeadIdResolution(LeadIdStatus.NotFound, null, result.Error));
                break;

            default:
                S.BackloggedAt = null;
                S.LastResult = SyncResult.Failed;
                S.LastError = result.Error ?? "lookup failed";
                S.LastResultAt = result.At;
                S.CookieFallbacks.Clear();
                CompleteWaiters(new LeadIdResolution(LeadIdStatus.Failed, null, S.LastError));
                break;
        }

        // The users' info first, the key's state last: a failure in between leaves the state stored as pending, so the
        // journal's recovery looks the key up again and writes the info then (both writes repeat harmlessly). The other
        // way round, a key stored as synced with its users never written would stay so for the whole resync window.
        try
        {
            if (update is not null && _linked.Count > 0)
                await users.ApplySyncResultAsync(_projectId, [.. _linked], update);
            if (leadGone && _linked.Count > 0)
            {
                // Cleared first, so that only users that had the lead are written to KARTE as gone (once).
                var lost = await users.ClearLeadAsync(_projectId, [.. _linked], _type);
                if (lost.Count > 0) await writeBack.EnqueueLeadGoneAsync(_projectId, lost);
            }
            await state.WriteStateAsync();
        }
        catch
        {
            // The state above changed in memory only: start again from what is stored (the delivery reports the failure).
            DeactivateOnIdle();
            throw;
        }
        if (update?.Karte is not null && _linked.Count > 0) await KarteWriteBackService.WakeAsync(GrainFactory, _projectId);
        if (handOvers.Count > 0)
            await Task.WhenAll(handOvers.Select(h => CookieGrain(h.Cookie).IdentifyAsync(new IdentifyCommand(h.User, null))));
    }

    /// <summary>Links a user in the store (which owns links; it is idempotent, and the cached list is what prevents
    /// repeating it). Returns whether the state needs writing (always, for a new link). A user linking to a key with a known lead gets the lead at
    /// once. The latest email wins: the keys of the user's older emails are told to read their links again. Beyond
    /// <see cref="LeadKeyLinks.MaxUsersPerKey"/> users the oldest link is dropped.</summary>
    private async Task<bool> LinkAsync(string userId)
    {
        if (_linked.Contains(userId, StringComparer.Ordinal)) return false;
        var replaced = await users.LinkKeyAsync(_projectId, userId, _type, _value);
        // Marketo events kept against this key reach KARTE for the new user too (before the link is remembered, so a
        // crash here repeats it; repeats are no-ops).
        await writeBack.EnqueueEventsForNewLinkAsync(_projectId, userId, _type, _value);
        if (S.LastResult == SyncResult.Synced && S.LeadId is { } leadId && S.LastIdentifyJson is not null && S.LastResultAt is { } at)
        {
            var settings = (await directory.GetAsync(_projectId))?.Settings;
            var update = new UserSyncUpdate(_type, leadId, S.LastIdentifyJson, at, S.Instance) { Karte = KarteWriteBackService.UserInfoWriteFor(settings) };
            await users.ApplySyncResultAsync(_projectId, [userId], update);
            if (update.Karte is not null) await KarteWriteBackService.WakeAsync(GrainFactory, _projectId);
        }
        _linked.Add(userId);
        while (_linked.Count > LeadKeyLinks.MaxUsersPerKey)
        {
            var oldest = _linked[0];
            await users.UnlinkKeyAsync(_projectId, oldest, _type, _value, S.LeadId);
            _linked.RemoveAt(0);
            S.CookieFallbacks.Remove(oldest);
            S.DroppedLinks++;
        }
        foreach (var email in replaced)
        {
            // One-way: the store has ended the link already; this only updates that key's own list.
            _ = GrainFactory.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(_projectId, LeadKeyType.Email, email)).UnlinkUserAsync(userId);
        }
        // The state is written for every new link although it no longer holds the list: its ETag is what makes a
        // second activation of the key (possible for a moment while a silo dies) fail instead of keeping a list the
        // other one lacks; and a key's first link must create the state (an activation reads links only where it exists).
        return true;
    }

    /// <summary>What the key learned belongs to one Marketo instance: where the project now uses another, all of it is
    /// forgotten at once (lead id, result, window, cached user info), so the key is looked up again on the new one.
    /// Returns whether something was forgotten (the state then needs writing).</summary>
    private bool AdoptInstance(ProjectSettings? settings)
    {
        if (settings is null) return false;
        var instance = settings.Marketo.InstanceId;
        if (S.Instance == instance) return false;
        var learnedElsewhere = S.Instance is not null;
        // State from before the rule knew no instance: it was learned from the instance the project uses (a move
        // since then has cleared the users' side, see ForgetOtherInstancesAsync).
        S.Instance = instance;
        if (!learnedElsewhere) return false;
        S.LeadId = null;
        S.LastResult = null;
        S.LastError = null;
        S.LastRequestAt = null;
        S.PreviousRequestAt = null;
        S.LastResultAt = null;
        S.LastIdentifyJson = null;
        S.BackloggedAt = null;
        S.CookieFallbacks.Clear();
        return true;
    }

    /// <summary>Deferred into the backlog, which looks the key up by itself: an identify meanwhile asks nothing and writes nothing.</summary>
    private bool WaitingInBacklog(DateTimeOffset now) =>
        S.LastResult == SyncResult.Deferred && S.BackloggedAt is { } at && now - at < BacklogTrustedFor;

    private bool OutsideWindow(ProjectSettings settings, DateTimeOffset now)
    {
        if (S.LastRequestAt is not { } start) return true;
        // A pending lookup is answered, or (its batcher's silo died, its answer could not be handed over) queued again
        // from the journal by PendingLookupRecovery and the silo takeover: it is never lost, so no identify repeats it.
        if (S.LastResult == SyncResult.Pending) return false;
        return now >= start + TimeSpan.FromSeconds(settings.RealtimeSync.ResyncWindowSeconds);
    }

    private static bool RealtimeApplies(ProjectSettings settings, LeadKeyType type) =>
        settings.RealtimeSync.Enabled && settings.RealtimeSync.Keys.Contains(type.ToKeyword(), StringComparer.OrdinalIgnoreCase);

    private ILeadKeyGrain CookieGrain(string cookie) =>
        GrainFactory.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(_projectId, LeadKeyType.Cookie, cookie));

    private void CompleteWaiters(LeadIdResolution resolution)
    {
        foreach (var waiter in _resolutionWaiters) waiter.TrySetResult(resolution);
        _resolutionWaiters.Clear();
    }
}
