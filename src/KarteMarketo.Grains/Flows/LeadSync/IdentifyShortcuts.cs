using System.Collections.Concurrent;
using KarteMarketo.Contracts.LeadSync;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>
/// Per silo: which identify events the lead-key grains active on this silo would do nothing for, so that the events
/// endpoint can answer them without a grain call (issue 18). The common identify is a known user of a key inside its
/// resync window: the grain links nobody, starts nothing and writes nothing.
/// </summary>
/// <remarks>
/// <para><b>Who writes an entry.</b> Only a <see cref="LeadKeyGrain"/> activation, for its own key, on the silo it is
/// active on: it withdraws its entry when any call reaches it (before that call can change anything), publishes a new
/// one computed from its state once no call is running any more, and withdraws it when it deactivates (collection,
/// failed write, shutdown). So an entry is always a statement the key's one activation makes about its current state,
/// and it is bounded by the number of activations on this silo (and by <see cref="MaxEntries"/>).</para>
/// <para><b>Why this is correct across hosts.</b> Orleans keeps one activation per key in the cluster; every change to
/// the key's state (an identify, a lookup answer, a user unlinked because their email changed, an instance switch) is a
/// call to that activation, and that call first withdraws the entry. Another host never holds an entry for a key active
/// here (its own table only has keys active on it), so nothing needs telling across hosts: a host whose table lacks the
/// key calls the grain, as before. What an entry claims beyond the grain's state is bounded by time and settings: it
/// holds the end of the window (<see cref="IdentifyShortcut.NoOpUntil"/>), after which the endpoint calls the grain,
/// and the project version it was computed for, so a settings change (keys, window, instance) sends the next identify
/// to the grain. The price in a cluster of N hosts: only identifies arriving at the host where their key is active
/// take the shortcut.</para>
/// </remarks>
public sealed class IdentifyShortcuts
{
    /// <summary>At most this many entries per silo; beyond it keys simply take the grain call.</summary>
    public const int MaxEntries = 2_000_000;

    // Per project, then per key type, then by the key's value: the events endpoint finds its project's table once per
    // request and then hashes only each event's email or cookie (a profile of 100-event requests had a quarter of the
    // host's CPU in one lookup per event keyed by project, type and value together).
    private readonly ConcurrentDictionary<string, ProjectIdentifyShortcuts> _projects = new(StringComparer.Ordinal);
    private int _count;

    /// <summary>Entries held now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>The key grain's statement about itself; replaces the previous one.</summary>
    public void Publish(LeadKeyId key, IdentifyShortcut shortcut)
    {
        var table = _projects.GetOrAdd(key.ProjectId, static _ => new ProjectIdentifyShortcuts()).Of(key.Type);
        while (true)
        {
            if (table.TryGetValue(key.Value, out var previous))
            {
                if (table.TryUpdate(key.Value, shortcut.WithOwnCopies(), previous)) return;
            }
            else
            {
                if (Volatile.Read(ref _count) >= MaxEntries) return;
                // The key's value, the entry and its users are copied here, one right after the other, and the table's
                // node follows them: the events endpoint reads all of them for every event, and where they lay apart
                // (the key from the grain's identity, the users from its state) each was its own cache miss. A profile
                // at half load had a quarter of the host's CPU in these lookups, most of it waiting on memory.
                var value = new string(key.Value.AsSpan());
                if (table.TryAdd(value, shortcut.WithOwnCopies()))
                {
                    Interlocked.Increment(ref _count);
                    return;
                }
            }
        }
    }

    /// <summary>The key grain is about to change (or is going away): no shortcut for it until it publishes again.</summary>
    public void Withdraw(LeadKeyId key)
    {
        if (_projects.TryGetValue(key.ProjectId, out var project) && project.Of(key.Type).TryRemove(key.Value, out _))
            Interlocked.Decrement(ref _count);
    }

    /// <summary>The entries of one project (null where this silo holds none): what the events endpoint reads, once per
    /// request.</summary>
    public ProjectIdentifyShortcuts? ForProject(string projectId) => _projects.GetValueOrDefault(projectId);

    /// <summary>Whether an identify of <paramref name="userId"/> carrying this key (on an email key: with
    /// <paramref name="cookieFallback"/>) is known to change nothing at <paramref name="now"/> under settings version
    /// <paramref name="projectVersion"/>. One key at a time, for tests; the events endpoint reads
    /// <see cref="ForProject"/> once per request.</summary>
    internal bool IsNoOpIdentify(in LeadKeyId key, string userId, bool cookieFallback, long projectVersion, DateTimeOffset now) =>
        ForProject(key.ProjectId)?.IsNoOpIdentify(key.Type, key.Value, userId, cookieFallback, projectVersion, now) == true;

    /// <summary>Whether linking <paramref name="userId"/> to this key (the cookie of an identify that also carried an
    /// email) is known to change nothing. One key at a time, for tests.</summary>
    internal bool IsLinked(in LeadKeyId key, string userId, long projectVersion) =>
        ForProject(key.ProjectId)?.IsLinked(key.Type, key.Value, userId, projectVersion) == true;
}

/// <summary>The shortcut entries of one project's keys active on this silo (<see cref="IdentifyShortcuts"/>).</summary>
public sealed class ProjectIdentifyShortcuts
{
    private readonly ConcurrentDictionary<string, IdentifyShortcut> _emails = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, IdentifyShortcut> _cookies = new(StringComparer.Ordinal);

    internal ConcurrentDictionary<string, IdentifyShortcut> Of(LeadKeyType type) => type == LeadKeyType.Email ? _emails : _cookies;

    /// <summary>Whether an identify of <paramref name="userId"/> carrying this key (on an email key: with
    /// <paramref name="cookieFallback"/>) is known to change nothing at <paramref name="now"/> under settings version
    /// <paramref name="projectVersion"/>.</summary>
    public bool IsNoOpIdentify(LeadKeyType type, string value, string userId, bool cookieFallback, long projectVersion, DateTimeOffset now) =>
        Of(type).TryGetValue(value, out var entry) && entry.ProjectVersion == projectVersion && now < entry.NoOpUntil
        && (!cookieFallback || entry.CookieFallbackIsNoOp) && entry.Links(userId);

    /// <summary>Whether linking <paramref name="userId"/> to this key (the cookie of an identify that also carried an
    /// email) is known to change nothing.</summary>
    public bool IsLinked(LeadKeyType type, string value, string userId, long projectVersion) =>
        Of(type).TryGetValue(value, out var entry) && entry.ProjectVersion == projectVersion && entry.Links(userId);
}

/// <summary>A lead key of a project, as the shortcut table is keyed (no string is built to look one up).</summary>
public readonly record struct LeadKeyId(string ProjectId, LeadKeyType Type, string Value);

/// <summary>What a key grain states about itself: for these linked users, under this project version, an identify
/// before <see cref="NoOpUntil"/> does nothing; with a cookie fallback too where <see cref="CookieFallbackIsNoOp"/>.</summary>
public sealed class IdentifyShortcut(string[] users, long projectVersion, DateTimeOffset noOpUntil, bool cookieFallbackIsNoOp)
{
    /// <summary>The same statement with its own copies of the user ids, allocated together with it (see
    /// <see cref="IdentifyShortcuts.Publish"/>).</summary>
    internal IdentifyShortcut WithOwnCopies()
    {
        var copies = new string[users.Length];
        for (var i = 0; i < users.Length; i++) copies[i] = new string(users[i].AsSpan());
        return new IdentifyShortcut(copies, ProjectVersion, NoOpUntil, CookieFallbackIsNoOp);
    }

    public long ProjectVersion { get; } = projectVersion;

    /// <summary>Until then an identify starts no lookup (the window or a pending lookup is running); <see cref="DateTimeOffset.MinValue"/>
    /// where the next identify would start one (the entry then only serves <see cref="IdentifyShortcuts.IsLinked"/>).</summary>
    public DateTimeOffset NoOpUntil { get; } = noOpUntil;

    /// <summary>On an email key: the identify's cookie needs nothing either (no hand-over, no pending answer waiting for it).</summary>
    public bool CookieFallbackIsNoOp { get; } = cookieFallbackIsNoOp;

    public bool Links(string userId)
    {
        foreach (var user in users)
        {
            if (string.Equals(user, userId, StringComparison.Ordinal)) return true;
        }
        return false;
    }
}
