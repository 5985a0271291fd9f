namespace KarteMarketo.Contracts;

/// <summary>
/// Every string grain key in one place. Each starts with a non-hex letter and a colon: the ADO.NET grain
/// storage reads hex-looking string keys as numbers, so "a" and "0A" would share a row.
/// </summary>
public static class GrainKeys
{
    public static string Project(string projectId) => $"p:{projectId}";
    public static string ProjectIdOf(string projectKey) => projectKey[2..];

    /// <summary><c>c:projects</c>: the one catalog of project ids.</summary>
    public const string ProjectCatalog = "c:projects";

    /// <summary><c>k:{project}/{email|cookie}/{value}</c>. Values are used as given: emails are normalised before.</summary>
    public static string LeadKey(string projectId, LeadKeyType type, string value) => $"k:{projectId}/{type.ToKeyword()}/{value}";

    /// <summary><c>b:{project}/{email|cookie}</c>: the per-silo lookup batcher of one project and filter type.</summary>
    public static string LookupBatcher(string projectId, LeadKeyType type) => $"b:{projectId}/{type.ToKeyword()}";

    /// <summary><c>q:{instance}</c>: one quota per Marketo instance, shared by its projects.</summary>
    public static string Quota(string instanceId) => $"q:{instanceId}";

    public static string SyncScheduler(string projectId) => $"s:{projectId}";

    /// <summary><c>r:{project}</c>: the keys a project looks up again by itself (deferred keys, resyncs).</summary>
    public static string LeadBacklog(string projectId) => $"r:{projectId}";

    /// <summary>The outbox dispatchers, one per project and kind.</summary>
    public static string ActivityDispatcher(string projectId) => $"o:{projectId}/activities";
    public static string LeadUpsertDispatcher(string projectId) => $"o:{projectId}/leads";
    public static string KarteWriteDispatcher(string projectId) => $"o:{projectId}/karte";
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
