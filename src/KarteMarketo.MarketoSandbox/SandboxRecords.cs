using System.Text.Json.Nodes;

namespace KarteMarketo.MarketoSandbox;

/// <summary>Names under which the sandbox records calls (in <see cref="SandboxCounters"/>) and targets faults.</summary>
public static class SandboxEndpointNames
{
    /// <summary><c>GET|POST /identity/oauth/token</c> (never counted by Marketo).</summary>
    public const string Identity = "identity";
    /// <summary><c>GET /rest/v1/leads.json</c> or <c>POST /rest/v1/leads.json?_method=GET</c>.</summary>
    public const string GetLeads = "getLeads";
    /// <summary><c>GET /rest/v1/lead/{leadId}.json</c>.</summary>
    public const string GetLeadById = "getLeadById";
    /// <summary><c>POST /rest/v1/leads.json</c> (Sync Leads).</summary>
    public const string SyncLeads = "syncLeads";
    /// <summary><c>POST /rest/v1/leads/{leadId}/associate.json</c>.</summary>
    public const string AssociateLead = "associateLead";
    /// <summary><c>GET /rest/v1/leads/describe.json</c>.</summary>
    public const string DescribeLeads = "describeLeads";
    /// <summary><c>POST /rest/v1/activities/external.json</c>.</summary>
    public const string AddCustomActivities = "addCustomActivities";
    /// <summary><c>GET /rest/v1/activities/external/types.json</c>.</summary>
    public const string CustomActivityTypes = "customActivityTypes";
    /// <summary><c>GET /rest/v1/stats/usage.json</c>.</summary>
    public const string Usage = "usage";
}

/// <summary>Outcome codes recorded for a call besides Marketo's own codes ("601", "1006", …).</summary>
public static class SandboxCallCodes
{
    /// <summary>The call succeeded (<c>success:true</c>).</summary>
    public const string Success = "success";
    /// <summary>An HTTP-level answer without a Marketo body, e.g. <c>http:414</c>, <c>http:401</c>, <c>http:502</c>.</summary>
    public static string Http(int status) => $"http:{status}";
    /// <summary>A call the sandbox held until the client gave up (timeout fault).</summary>
    public const string Abandoned = "abandoned";
}

/// <summary>One call the sandbox answered. <paramref name="Counted"/>: whether it counts against the daily quota.</summary>
public sealed record SandboxCall(DateTimeOffset At, string Endpoint, string Code, bool Counted, string? ClientId);

/// <summary>Which limit a call ran into.</summary>
public enum SandboxLimit
{
    /// <summary>606: more than <see cref="SandboxOptions.RateLimitCalls"/> in the sliding window.</summary>
    RateLimit,
    /// <summary>615: more than <see cref="SandboxOptions.MaxConcurrentCalls"/> in flight.</summary>
    Concurrency,
    /// <summary>607: the day's quota was used up.</summary>
    DailyQuota,
}

/// <summary>A call refused because it broke a limit (the caller did something our service must never do).
/// Injected faults are not breaches.</summary>
public sealed record SandboxBreach(DateTimeOffset At, SandboxLimit Limit, string Endpoint, string Code, string? ClientId);

/// <summary>One custom activity the sandbox stored.</summary>
public sealed record SandboxActivity(long Id, string MarketoGuid, long LeadId, int ActivityTypeId, DateTimeOffset ActivityDate,
    string PrimaryAttributeValue, IReadOnlyDictionary<string, JsonNode?> Attributes);

/// <summary>One record of a Sync Leads call and what happened to it.</summary>
public sealed record SandboxLeadSync(string Action, string LookupField, long? LeadId, string Status, string? ReasonCode, JsonObject Input);

/// <summary>One successful Associate Lead call.</summary>
public sealed record SandboxAssociation(long LeadId, string Cookie, DateTimeOffset At);

/// <summary>A lead as stored: its fields by REST name (case-insensitive) and the full <c>_mkto_trk</c> cookie values associated with it.</summary>
public sealed record SandboxLead(long Id, IReadOnlyDictionary<string, JsonNode?> Fields, IReadOnlyList<string> Cookies,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    /// <summary>The lead's email, if set.</summary>
    public string? Email => Fields.TryGetValue("email", out var node) ? node?.ToString() : null;

    /// <summary>A field value as text, or null.</summary>
    public string? this[string field] => Fields.TryGetValue(field, out var node) ? node?.ToString() : null;
}

/// <summary>What a fault does to the calls it hits.</summary>
public enum SandboxFaultKind
{
    /// <summary>Delay the answer by <see cref="SandboxFault.Latency"/> (on the sandbox's TimeProvider; the call stays in flight).</summary>
    Latency,
    /// <summary>Answer with HTTP <see cref="SandboxFault.HttpStatus"/> (500, 502, 503) and no Marketo body.</summary>
    HttpError,
    /// <summary>Hold the call until the client gives up (a client-side time-out). Connection refused cannot be
    /// simulated in-process; stop the <see cref="SandboxServer"/> (or point at a closed port) for that.</summary>
    Hang,
    /// <summary>Answer <c>success:false</c> with Marketo error <see cref="SandboxFault.ErrorCode"/>.</summary>
    MarketoError,
}

/// <summary>
/// A fault to inject. It applies to calls to <see cref="Endpoint"/> (null: every REST endpoint, never identity),
/// for the next <see cref="Count"/> calls, or until <see cref="Until"/> (sandbox time), or both (whichever ends first);
/// with neither set it lasts until cleared. Faults are checked after authentication and before the limits.
/// </summary>
public sealed record SandboxFault
{
    public SandboxFaultKind Kind { get; init; }
    public string? Endpoint { get; init; }
    public int? Count { get; init; }
    public DateTimeOffset? Until { get; init; }
    public TimeSpan Latency { get; init; }
    public int HttpStatus { get; init; } = 503;
    public string ErrorCode { get; init; } = "611";
    public string? ErrorMessage { get; init; }

    /// <summary>Delay the next <paramref name="count"/> calls (null: all until cleared).</summary>
    public static SandboxFault Delay(TimeSpan latency, int? count = null, string? endpoint = null) =>
        new() { Kind = SandboxFaultKind.Latency, Latency = latency, Count = count, Endpoint = endpoint };

    /// <summary>HTTP <paramref name="status"/> for the next <paramref name="count"/> calls.</summary>
    public static SandboxFault Http(int status, int? count = 1, string? endpoint = null) =>
        new() { Kind = SandboxFaultKind.HttpError, HttpStatus = status, Count = count, Endpoint = endpoint };

    /// <summary>Hang the next <paramref name="count"/> calls until the client gives up.</summary>
    public static SandboxFault Timeout(int? count = 1, string? endpoint = null) =>
        new() { Kind = SandboxFaultKind.Hang, Count = count, Endpoint = endpoint };

    /// <summary>Marketo error <paramref name="code"/> for the next <paramref name="count"/> calls.</summary>
    public static SandboxFault Error(string code, int? count = 1, string? endpoint = null, string? message = null) =>
        new() { Kind = SandboxFaultKind.MarketoError, ErrorCode = code, Count = count, Endpoint = endpoint, ErrorMessage = message };
}
