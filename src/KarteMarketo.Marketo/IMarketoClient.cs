using System.Text.Json.Nodes;

namespace KarteMarketo.Marketo;

/// <summary>
/// The one client for Marketo's REST API. Every method makes exactly one attempt (plus identity calls, which Marketo
/// does not count, and one repeat after 601/602 with a fresh token) under the caller's quota permit. Transient
/// failures, 606/615/607 and the caller's faults come back as <see cref="MarketoResult{T}.Kind"/>, never as
/// exceptions; <see cref="MarketoOutcomes.Classify{T}"/> says what each means. Nothing here retries.
/// </summary>
public interface IMarketoClient
{
    /// <summary><c>GET /rest/v1/leads.json</c> (sent as <c>POST …?_method=GET</c> with a form body) for up to <see cref="MarketoLimits.MaxBatchSize"/> values.
    /// One page; pass <see cref="LeadPage.NextPageToken"/> back for the next.</summary>
    Task<MarketoResult<LeadPage>> GetLeadsByFilterAsync(MarketoConnection connection, string filterType,
        IReadOnlyCollection<string> filterValues, IReadOnlyCollection<string>? fields, string? nextPageToken,
        CancellationToken cancellationToken = default);

    /// <summary><c>POST /rest/v1/leads.json</c>: up to <see cref="MarketoLimits.MaxBatchSize"/> records; results in input order.</summary>
    Task<MarketoResult<IReadOnlyList<LeadSyncResult>>> SyncLeadsAsync(MarketoConnection connection, string action,
        string lookupField, IReadOnlyList<JsonObject> input, CancellationToken cancellationToken = default);

    /// <summary><c>POST /rest/v1/leads/{id}/associate.json?cookie=…</c>.</summary>
    Task<MarketoResult<bool>> AssociateLeadAsync(MarketoConnection connection, long leadId, string cookie,
        CancellationToken cancellationToken = default);

    /// <summary><c>POST /rest/v1/activities/external.json</c>: up to <see cref="MarketoLimits.MaxBatchSize"/> activities; results in input order.</summary>
    Task<MarketoResult<IReadOnlyList<ActivityResult>>> AddCustomActivitiesAsync(MarketoConnection connection,
        IReadOnlyList<CustomActivity> input, CancellationToken cancellationToken = default);

    /// <summary><c>GET /rest/v1/leads/describe.json</c>: the instance's lead fields (REST names).</summary>
    Task<MarketoResult<IReadOnlyList<LeadFieldInfo>>> DescribeLeadFieldsAsync(MarketoConnection connection,
        CancellationToken cancellationToken = default);

    /// <summary><c>GET /rest/v1/stats/usage.json</c>: calls counted today by Marketo, all integrations.</summary>
    Task<MarketoResult<DailyUsage>> GetDailyUsageAsync(MarketoConnection connection,
        CancellationToken cancellationToken = default);

    /// <summary>Asks the identity endpoint for a token (not counted by Marketo). Used to check saved credentials.</summary>
    Task<MarketoResult<bool>> CheckCredentialsAsync(MarketoConnection connection,
        CancellationToken cancellationToken = default);
}

/// <summary>Where and as whom to call. <paramref name="RestEndpoint"/> ends in <c>/rest</c>, <paramref name="IdentityEndpoint"/> in <c>/identity</c>.</summary>
public sealed record MarketoConnection(string ClientId, string ClientSecret, Uri RestEndpoint, Uri IdentityEndpoint)
{
    public override string ToString() => $"MarketoConnection {{ ClientId = {ClientId}, RestEndpoint = {RestEndpoint} }}";
}

/// <summary>How a Marketo call ended.</summary>
public enum MarketoResultKind
{
    Success = 0,
    /// <summary>601/602 still failing after a fresh token, or the identity endpoint refused the credentials.</summary>
    AuthenticationFailed = 1,
    /// <summary>502, 604, 608, 611, 713, HTTP 5xx, time-outs, connection failures.</summary>
    Transient = 2,
    /// <summary>606.</summary>
    RateLimited = 3,
    /// <summary>615.</summary>
    ConcurrencyLimited = 4,
    /// <summary>607.</summary>
    DailyQuotaExhausted = 5,
    /// <summary>Anything else: the request was wrong (1006 unknown field, 603, 609, 610, 1003, …).</summary>
    CallerError = 6,
}

/// <summary>A response-level or record-level Marketo error. <c>Code</c> is a string, as Marketo sends it.</summary>
public sealed record MarketoError(string Code, string Message)
{
    /// <summary>For 1006 "Field 'x' not found" (and 1011 "Field 'x' not supported"): the field's name.</summary>
    public string? FieldName
    {
        get
        {
            var start = Message.IndexOf('\'');
            var end = start < 0 ? -1 : Message.IndexOf('\'', start + 1);
            return end > start ? Message[(start + 1)..end] : null;
        }
    }
}

/// <summary>The outcome of one call. <see cref="Value"/> is set only for <see cref="MarketoResultKind.Success"/>.</summary>
public sealed record MarketoResult<T>(MarketoResultKind Kind, T? Value, IReadOnlyList<MarketoError> Errors, string? RequestId)
{
    public bool IsSuccess => Kind == MarketoResultKind.Success;

    /// <summary>Whether Marketo counted this call against the daily quota and the 20 s window
    /// (601, 602, 604, 605, 608, 611 and calls that never reached Marketo are not counted).</summary>
    public bool CountedByMarketo { get; init; } = true;

    public static MarketoResult<T> Ok(T value, string? requestId) => new(MarketoResultKind.Success, value, [], requestId);
}

/// <summary>One page of leads. Each lead is the JSON object Marketo returned (explicit nulls kept).</summary>
public sealed record LeadPage(IReadOnlyList<JsonObject> Leads, string? NextPageToken);

/// <summary>Per-record result of Sync Leads: <c>created</c>, <c>updated</c> or <c>skipped</c> with <c>reasons</c>.</summary>
public sealed record LeadSyncResult(long? Id, string Status, IReadOnlyList<MarketoError> Reasons);

/// <summary>One custom activity to add. <c>Attributes</c> are sent as <c>{ "apiName": key, "value": value }</c>.</summary>
public sealed record CustomActivity(long LeadId, DateTimeOffset ActivityDate, int ActivityTypeId,
    string PrimaryAttributeValue, IReadOnlyList<KeyValuePair<string, JsonNode?>> Attributes);

/// <summary>Per-record result of Add Custom Activities: <c>added</c>, or <c>skipped</c> with <c>errors</c>.</summary>
public sealed record ActivityResult(long? Id, string? MarketoGuid, string Status, IReadOnlyList<MarketoError> Errors);

/// <summary>One lead field from describe: REST name and data type.</summary>
public sealed record LeadFieldInfo(string RestName, string DataType, bool ReadOnly);

/// <summary>Marketo's own count of today's calls (all integrations on the instance).</summary>
public sealed record DailyUsage(DateOnly Date, int Total);
