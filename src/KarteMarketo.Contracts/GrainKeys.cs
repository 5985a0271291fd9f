namespace KarteMarketo.Contracts;

/// <summary>
/// Every string grain key in one place. Each starts with a non-hex letter and a colon: the ADO.NET grain
/// storage reads hex-looking string keys as numbers, so "a" and "0A" would share a row. Each builder has its parser
/// beside it; grains read their keys only through these.
/// </summary>
public static class GrainKeys
{
    public static string Project(string projectId) => $"p:{projectId}";
    public static string ProjectIdOf(string projectKey) => Strip(projectKey, "p:");

    /// <summary><c>c:projects</c>: the one catalog of project ids.</summary>
    public const string ProjectCatalog = "c:projects";

    /// <summary><c>k:{project}/{email|cookie}/{value}</c>. Values are used as given: emails are normalised before.</summary>
    public static string LeadKey(string projectId, LeadKeyType type, string value) => $"k:{projectId}/{type.ToKeyword()}/{value}";

    /// <summary>Splits <c>k:{project}/{email|cookie}/{value}</c>; the value may itself contain slashes.</summary>
    public static (string Project, LeadKeyType Type, string Value) ParseLeadKey(string key)
    {
        var first = key.IndexOf('/', 2);
        var second = first < 0 ? -1 : key.IndexOf('/', first + 1);
        if (!key.StartsWith("k:", StringComparison.Ordinal) || first < 0 || second < 0)
            throw new ArgumentException($"Not a lead key: {key}", nameof(key));
        return (key[2..first], ParseKeyword(key[(first + 1)..second], key), key[(second + 1)..]);
    }

    /// <summary><c>b:{project}/{email|cookie}</c>: the per-silo lookup batcher of one project and filter type.</summary>
    public static string LookupBatcher(string projectId, LeadKeyType type) => $"b:{projectId}/{type.ToKeyword()}";

    /// <summary>Splits <see cref="LookupBatcher"/>'s key (the project id may contain slashes; the type is last).</summary>
    public static (string Project, LeadKeyType Type) ParseLookupBatcher(string key)
    {
        var slash = key.LastIndexOf('/');
        if (!key.StartsWith("b:", StringComparison.Ordinal) || slash < 2)
            throw new ArgumentException($"Not a lookup batcher key: {key}", nameof(key));
        return (key[2..slash], ParseKeyword(key[(slash + 1)..], key));
    }

    /// <summary><c>q:{instance}</c>: one quota per Marketo instance, shared by its projects.</summary>
    public static string Quota(string instanceId) => $"q:{instanceId}";
    public static string ParseQuota(string key) => Strip(key, "q:");

    public static string SyncScheduler(string projectId) => $"s:{projectId}";
    public static string ParseSyncScheduler(string key) => Strip(key, "s:");

    /// <summary><c>r:{project}</c>: the keys a project looks up again by itself (deferred keys, resyncs).</summary>
    public static string LeadBacklog(string projectId) => $"r:{projectId}";
    public static string ParseLeadBacklog(string key) => Strip(key, "r:");

    /// <summary><c>t:{project}</c>: the tally of a project's lookup results and its last errors (sync status).</summary>
    public static string SyncResults(string projectId) => $"t:{projectId}";
    public static string ParseSyncResults(string key) => Strip(key, "t:");

    /// <summary>The outbox dispatchers, one per project and kind.</summary>
    public static string ActivityDispatcher(string projectId) => $"o:{projectId}/activities";
    public static string LeadUpsertDispatcher(string projectId) => $"o:{projectId}/leads";
    public static string KarteWriteDispatcher(string projectId) => $"o:{projectId}/karte";

    /// <summary>The project of an outbox dispatcher's key (<c>o:{project}/{kind}</c>; the kind is last).</summary>
    public static string ParseOutboxDispatcher(string key)
    {
        var slash = key.LastIndexOf('/');
        if (!key.StartsWith("o:", StringComparison.Ordinal) || slash < 2)
            throw new ArgumentException($"Not an outbox dispatcher key: {key}", nameof(key));
        return key[2..slash];
    }

    private static string Strip(string key, string prefix) => key.StartsWith(prefix, StringComparison.Ordinal)
        ? key[prefix.Length..]
        : throw new ArgumentException($"Not a '{prefix}' key: {key}", nameof(key));

    private static LeadKeyType ParseKeyword(string keyword, string key) => keyword switch
    {
        "email" => LeadKeyType.Email,
        "cookie" => LeadKeyType.Cookie,
        var other => throw new ArgumentException($"Unknown key type {other}", nameof(key)),
    };
}

/// <summary>The two ways a KARTE user is matched to a Marketo lead.</summary>
public enum LeadKeyType
{
    Email = 0,
    Cookie = 1,
}

public static class LeadKeyTypeExtensions
{
    /// <summary>The keyword used in keys, settings (<c>realtimeSync.keys</c>) and <c>sync.key</c>.</summary>
    public static string ToKeyword(this LeadKeyType type) => type == LeadKeyType.Email ? "email" : "cookie";

    /// <summary>The Marketo <c>filterType</c> for a lookup by this key.</summary>
    public static string ToMarketoFilterType(this LeadKeyType type) => type == LeadKeyType.Email ? "email" : "cookies";
}
