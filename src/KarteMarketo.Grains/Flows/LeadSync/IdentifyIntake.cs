using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Identity;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>A checked event of one user: its normalised keys for an identify (email and/or cookie), neither for
/// another event.</summary>
public readonly record struct IdentifyInput(string UserId, string? Email, string? Cookie);

/// <summary>
/// Where flow 1 starts (KARTE events → lead-key grains): the events endpoint hands it the checked events of one
/// request. Users that only sent other events are recorded as seen, identify emails go to the periodic-sync queue,
/// and each identify reaches the key grains <see cref="LeadKeyPolicy.ForIdentify"/> names, which link the user and
/// decide whether a realtime lookup is due. Everything is stored before <see cref="AcceptAsync"/> returns (the 202).
/// </summary>
public sealed class IdentifyIntake(IGrainFactory grains, IUserStore users, PeriodicSyncIntake periodicSync,
    IdentifyShortcuts shortcuts, TimeProvider time)
{
    /// <summary>Most grain calls in flight for one request: enough to keep the silo busy, few enough not to flood it.</summary>
    public const int MaxFanOut = 64;

    /// <summary>Where every identify is one this silo's key grains state would change nothing (<see cref="IdentifyShortcuts"/>):
    /// queues only the emails the periodic sync may still need (a store write, no grain call, once per silo per 10 s)
    /// and returns true; false (nothing done) where any identify needs its grains.</summary>
    public async ValueTask<bool> TryShortcutAsync(string projectId, ProjectRecord record, IReadOnlyList<IdentifyInput> identifies,
        CancellationToken cancellationToken)
    {
        var table = shortcuts.ForProject(projectId);
        if (table is null) return false;
        var now = time.GetUtcNow();
        foreach (var identify in identifies)
        {
            if (identify.Email is null && identify.Cookie is null) return false;
            var keys = LeadKeyPolicy.ForIdentify(identify.Email, identify.Cookie);
            if (!table.IsNoOpIdentify(keys.LookupType, keys.LookupValue, identify.UserId, keys.CookieFallback is not null, record.Version, now))
                return false;
            if (keys.LinkedCookie is { } linked && !table.IsLinked(LeadKeyType.Cookie, linked, identify.UserId, record.Version))
                return false;
        }
        var settings = record.Settings;
        if (settings.PeriodicSync.Enabled && periodicSync.NotRecentlyQueued(projectId, settings, identifies) is { } toQueue)
            await periodicSync.AddAsync(projectId, settings, toQueue.Distinct(StringComparer.Ordinal).ToList(), cancellationToken);
        return true;
    }

    /// <summary>Accepts one request's events: <paramref name="identifies"/> (each with a key) and every user seen in the
    /// request. Returns once everything is stored.</summary>
    public async Task AcceptAsync(string projectId, ProjectSettings settings, IReadOnlyList<IdentifyInput> identifies,
        IReadOnlyCollection<string> seenUsers, CancellationToken cancellationToken)
    {
        // Users that only sent other events are recorded as seen; identify links are written by the key grains (which
        // skip what they already have, so repeats cost no storage write).
        var linked = new HashSet<string>(identifies.Select(i => i.UserId), StringComparer.Ordinal);
        var others = seenUsers.Where(u => !linked.Contains(u)).ToList();
        if (others.Count > 0) await users.TouchUsersAsync(projectId, others, cancellationToken);

        var distinct = identifies.Distinct().ToList();
        if (settings.PeriodicSync.Enabled)
            await periodicSync.AddAsync(projectId, settings,
                distinct.Where(i => i.Email is not null).Select(i => i.Email!).Distinct(StringComparer.Ordinal).ToList(), cancellationToken);
        await Parallel.ForEachAsync(distinct, new ParallelOptions { MaxDegreeOfParallelism = MaxFanOut, CancellationToken = cancellationToken },
            async (identify, _) => await IdentifyAsync(projectId, identify));
    }

    /// <summary>The looked-up key gets the identify (with the cookie as its fallback), a cookie beside an email is only
    /// linked.</summary>
    private Task IdentifyAsync(string projectId, IdentifyInput identify)
    {
        var keys = LeadKeyPolicy.ForIdentify(identify.Email, identify.Cookie);
        var lookup = grains.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(projectId, keys.LookupType, keys.LookupValue))
            .IdentifyAsync(new IdentifyCommand(identify.UserId, keys.CookieFallback));
        if (keys.LinkedCookie is null) return lookup;
        var cookie = grains.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(projectId, LeadKeyType.Cookie, keys.LinkedCookie))
            .LinkUserAsync(identify.UserId);
        return Task.WhenAll(lookup, cookie);
    }
}
