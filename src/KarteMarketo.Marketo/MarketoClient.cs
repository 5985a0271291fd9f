using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace KarteMarketo.Marketo;

/// <summary>
/// <see cref="IMarketoClient"/> over one <see cref="HttpClient"/>. Each call: token from <see cref="MarketoTokenCache"/>
/// (sent only as <c>Authorization: Bearer</c>), then exactly one attempt under the endpoint's time-out (on the injected
/// <see cref="TimeProvider"/>). 601/602 drop the token and repeat the call once with a fresh one. Everything else comes
/// back as it is: whether and when to try again is the gateway's decision (KarteMarketo.Grains.Marketo), made with
/// a fresh quota permit for every attempt, so this client knows nothing of quotas, retries or Orleans.
/// </summary>
public sealed class MarketoClient : IMarketoClient
{
    internal static readonly HttpRequestOptionsKey<string> EndpointOption = new("KarteMarketo.MarketoEndpoint");

    private readonly HttpClient _http;
    private readonly MarketoTokenCache _tokens;
    private readonly MarketoClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public MarketoClient(HttpClient http, MarketoTokenCache tokens, IOptions<MarketoClientOptions> options, TimeProvider timeProvider,
        ILogger<MarketoClient>? logger = null)
    {
        _http = http;
        _tokens = tokens;
        _options = options.Value;
        _time = timeProvider;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public Task<MarketoResult<LeadPage>> GetLeadsByFilterAsync(MarketoConnection connection, string filterType,
        IReadOnlyCollection<string> filterValues, IReadOnlyCollection<string>? fields, string? nextPageToken,
        CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrWhiteSpace(filterType) || filterValues.Count == 0)
        {
            return Task.FromResult(NotSent<LeadPage>("701", "filterType and filterValues cannot be blank"));
        }
        if (filterValues.Count > MarketoLimits.MaxBatchSize)
        {
            return Task.FromResult(NotSent<LeadPage>("1003", $"Too many filter values ({filterValues.Count}); at most {MarketoLimits.MaxBatchSize} per call"));
        }
        if (filterValues.Any(v => string.IsNullOrEmpty(v) || v.Contains(',')))
        {
            return Task.FromResult(NotSent<LeadPage>("1003", "A filter value is empty or contains a comma"));
        }

        var form = new List<KeyValuePair<string, string>>
        {
            new("filterType", filterType),
            // One comma-separated value, as the docs and real clients send it (the spec's collectionFormat=multi is wrong).
            new("filterValues", string.Join(',', filterValues)),
        };
        if (fields is { Count: > 0 })
        {
            form.Add(new("fields", string.Join(',', fields)));
        }
        if (!string.IsNullOrEmpty(nextPageToken))
        {
            form.Add(new("nextPageToken", nextPageToken));
        }

        // Always POST …/leads.json?_method=GET with a form body: 300 emails or _mkto_trk cookies can pass Marketo's
        // URI limit (MarketoLimits.MaxUriBytes, HTTP 414), and one request shape for every lookup is simpler to test. Form encoding turns the
        // cookie's '&' into %26, as Marketo needs.
        return CallAsync(connection, "getLeads", _options.LookupTimeout,
            () => new HttpRequestMessage(HttpMethod.Post, Rest(connection, "/v1/leads.json?_method=GET"))
            {
                Content = new FormUrlEncodedContent(form),
            },
            body => new LeadPage([.. MarketoJson.Array(body["result"]).OfType<JsonObject>().Select(l => (JsonObject)l.DeepClone())],
                MarketoJson.String(body["nextPageToken"]) is { Length: > 0 } token ? token : null),
            cancellationToken);
    }

    /// <inheritdoc />
    public Task<MarketoResult<IReadOnlyList<LeadSyncResult>>> SyncLeadsAsync(MarketoConnection connection, string action,
        string lookupField, IReadOnlyList<JsonObject> input, CancellationToken cancellationToken = default)
    {
        if (input.Count == 0 || input.Count > MarketoLimits.MaxBatchSize)
        {
            return Task.FromResult(NotSent<IReadOnlyList<LeadSyncResult>>("1003", $"Sync Leads takes 1 to {MarketoLimits.MaxBatchSize} records, not {input.Count}"));
        }
        var body = new JsonObject
        {
            ["action"] = action,
            ["lookupField"] = lookupField,
            ["input"] = new JsonArray([.. input.Select(i => (JsonNode)i.DeepClone())]),
        };
        return CallAsync(connection, "syncLeads", _options.SyncTimeout,
            () => new HttpRequestMessage(HttpMethod.Post, Rest(connection, "/v1/leads.json")) { Content = Json(body) },
            response => (IReadOnlyList<LeadSyncResult>)[.. MarketoJson.Array(response["result"]).OfType<JsonObject>().Select(r =>
                new LeadSyncResult(MarketoJson.Long(r["id"]), MarketoJson.String(r["status"]) ?? "",
                    // Real responses carry a `reasons` array; the spec says a singular `reason`. Read both.
                    r["reasons"] is not null ? MarketoJson.Errors(r["reasons"]) : MarketoJson.Errors(r["reason"])))],
            cancellationToken);
    }

    /// <inheritdoc />
    public Task<MarketoResult<bool>> AssociateLeadAsync(MarketoConnection connection, long leadId, string cookie,
        CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(cookie))
        {
            return Task.FromResult(NotSent<bool>("701", "cookie cannot be blank"));
        }
        // The _mkto_trk value holds '&' (id:…&token:…), which must travel as %26 or the query string splits.
        var path = "/v1/leads/" + leadId.ToString(CultureInfo.InvariantCulture) + "/associate.json?cookie=" + Uri.EscapeDataString(cookie);
        return CallAsync(connection, "associateLead", _options.AssociateTimeout,
            () => new HttpRequestMessage(HttpMethod.Post, Rest(connection, path)),
            _ => true, cancellationToken);
    }

    /// <inheritdoc />
    public Task<MarketoResult<IReadOnlyList<ActivityResult>>> AddCustomActivitiesAsync(MarketoConnection connection,
        IReadOnlyList<CustomActivity> input, CancellationToken cancellationToken = default)
    {
        if (input.Count == 0 || input.Count > MarketoLimits.MaxBatchSize)
        {
            return Task.FromResult(NotSent<IReadOnlyList<ActivityResult>>("1003", $"Add Custom Activities takes 1 to {MarketoLimits.MaxBatchSize} activities, not {input.Count}"));
        }
        var body = new JsonObject
        {
            ["input"] = new JsonArray([.. input.Select(a => (JsonNode)new JsonObject
            {
                ["leadId"] = a.LeadId,
                ["activityDate"] = a.ActivityDate.ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture),
                ["activityTypeId"] = a.ActivityTypeId,
                ["primaryAttributeValue"] = a.PrimaryAttributeValue,
                ["attributes"] = new JsonArray([.. a.Attributes.Select(kv => (JsonNode)new JsonObject
                {
                    ["apiName"] = kv.Key,
                    ["value"] = kv.Value?.DeepClone(),
                })]),
            })]),
        };
        return CallAsync(connection, "addCustomActivities", _options.ActivitiesTimeout,
            () => new HttpRequestMessage(HttpMethod.Post, Rest(connection, "/v1/activities/external.json")) { Content = Json(body) },
            response => (IReadOnlyList<ActivityResult>)[.. MarketoJson.Array(response["result"]).OfType<JsonObject>().Select(r =>
                new ActivityResult(MarketoJson.Long(r["id"]), MarketoJson.String(r["marketoGUID"]), MarketoJson.String(r["status"]) ?? "",
                    // Custom-activity failures carry `errors`; accept `reasons` too.
                    r["errors"] is not null ? MarketoJson.Errors(r["errors"]) : MarketoJson.Errors(r["reasons"])))],
            cancellationToken);
    }

    /// <inheritdoc />
    public Task<MarketoResult<IReadOnlyList<LeadFieldInfo>>> DescribeLeadFieldsAsync(MarketoConnection connection,
        CancellationToken cancellationToken = default) =>
        CallAsync(connection, "describeLeads", _options.DefaultTimeout,
            () => new HttpRequestMessage(HttpMethod.Get, Rest(connection, "/v1/leads/describe.json")),
            response => (IReadOnlyList<LeadFieldInfo>)[.. MarketoJson.Array(response["result"]).OfType<JsonObject>()
                // Some fields have no REST name; they cannot be used over REST (tap-marketo skips them too).
                .Where(f => MarketoJson.String(f["rest"]?["name"]) is { Length: > 0 })
                .Select(f => new LeadFieldInfo(MarketoJson.String(f["rest"]!["name"])!, MarketoJson.String(f["dataType"]) ?? "string",
                    MarketoJson.Bool(f["rest"]!["readOnly"])))],
            cancellationToken);

    /// <inheritdoc />
    public Task<MarketoResult<DailyUsage>> GetDailyUsageAsync(MarketoConnection connection, CancellationToken cancellationToken = default) =>
        CallAsync(connection, "usage", _options.DefaultTimeout,
            () => new HttpRequestMessage(HttpMethod.Get, Rest(connection, "/v1/stats/usage.json")),
            response =>
            {
                var today = MarketoJson.Array(response["result"]).OfType<JsonObject>().FirstOrDefault();
                var date = ParseDate(MarketoJson.String(today?["date"])) ??
                           MarketoLimits.DayOf(_time.GetUtcNow());
                return new DailyUsage(date, (int)(MarketoJson.Long(today?["total"]) ?? 0));
            },
            cancellationToken);

    /// <inheritdoc />
    public async Task<MarketoResult<bool>> CheckCredentialsAsync(MarketoConnection connection, CancellationToken cancellationToken = default)
    {
        using var deadline = new CancellationTokenSource(_options.DefaultTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            var token = await _tokens.GetAsync(_http, connection, null, linked.Token, forceRequest: true);
            return token.Token is not null
                ? MarketoResult<bool>.Ok(true, null) with { CountedByMarketo = false }
                : new MarketoResult<bool>(token.Kind, false, [token.Error!], null) { CountedByMarketo = false };
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return new MarketoResult<bool>(MarketoResultKind.Transient, false, [new MarketoError("timeout", "Identity did not answer in time")], null)
            {
                CountedByMarketo = false,
            };
        }
    }

    /// <summary>Joins a base URL and a path without doubling the slash (Marketo's gateway refuses <c>//</c>).</summary>
    internal static string Join(Uri baseUri, string path) => baseUri.AbsoluteUri.TrimEnd('/') + "/" + path.TrimStart('/');

    private static Uri Rest(MarketoConnection connection, string pathAndQuery) => new(Join(connection.RestEndpoint, pathAndQuery));

    private static StringContent Json(JsonObject body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");

    private static DateOnly? ParseDate(string? text) =>
        text is { Length: >= 10 } && DateOnly.TryParseExact(text[..10], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date)
            ? date : null;

    private static MarketoResult<T> NotSent<T>(string code, string message) =>
        new(MarketoResultKind.CallerError, default, [new MarketoError(code, "Not sent: " + message)], null) { CountedByMarketo = false };

    /// <summary>One attempt (two after a refused token): the token, the request under its endpoint's time-out, the
    /// answer read. Nothing here waits or retries on transient failures; the gateway decides that.</summary>
    private async Task<MarketoResult<T>> CallAsync<T>(MarketoConnection connection, string endpoint, TimeSpan timeout,
        Func<HttpRequestMessage> buildRequest, Func<JsonObject, T> read, CancellationToken cancellationToken)
    {
        var counted = false;
        string? rejectedToken = null;
        for (var pass = 0; ; pass++)
        {
            var attempt = await AttemptAsync(connection, endpoint, timeout, buildRequest, rejectedToken, cancellationToken);
            counted |= attempt.Counted;
            if (attempt.ReAuthenticate)
            {
                if (pass == 0 && attempt.TokenUsed is { } used)
                {
                    // 601/602: drop the token, get a new one, and make the call once more (facts §1).
                    _logger.LogInformation("Marketo {Endpoint}: token refused ({Code}); renewing and retrying once", endpoint, attempt.Errors[0].Code);
                    _tokens.Invalidate(connection, used);
                    rejectedToken = used;
                    continue;
                }
                return new MarketoResult<T>(MarketoResultKind.AuthenticationFailed, default, attempt.Errors, attempt.RequestId)
                {
                    CountedByMarketo = counted,
                };
            }

            if (attempt.Kind != MarketoResultKind.Success)
            {
                if (attempt.Kind != MarketoResultKind.CallerError)
                {
                    _logger.LogWarning("Marketo {Endpoint} ended {Kind} ({Codes}), request {RequestId}", endpoint, attempt.Kind,
                        string.Join(',', attempt.Errors.Select(e => e.Code)), attempt.RequestId);
                }
                return new MarketoResult<T>(attempt.Kind, default, attempt.Errors, attempt.RequestId) { CountedByMarketo = counted };
            }

            T value;
            try
            {
                value = read(attempt.Body!);
            }
            catch (Exception exception) when (exception is InvalidOperationException or FormatException or JsonException)
            {
                return new MarketoResult<T>(MarketoResultKind.CallerError, default,
                    [new MarketoError("unreadable", "Unreadable Marketo response: " + exception.Message)], attempt.RequestId);
            }
            return MarketoResult<T>.Ok(value, attempt.RequestId) with { CountedByMarketo = counted };
        }
    }

    private async Task<Attempt> AttemptAsync(MarketoConnection connection, string endpoint, TimeSpan timeout,
        Func<HttpRequestMessage> buildRequest, string? rejectedToken, CancellationToken cancellationToken)
    {
        // The time-out covers the whole attempt (token and request) and runs on the injected clock.
        using var deadline = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            return await SendAsync(connection, endpoint, buildRequest, rejectedToken, linked.Token);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // A call that timed out may still have run in Marketo: count it.
            return new Attempt(MarketoResultKind.Transient, null, [new MarketoError("timeout", $"No answer within {timeout.TotalSeconds:0.###} s")],
                null, false, null, Counted: true);
        }
    }

    private async Task<Attempt> SendAsync(MarketoConnection connection, string endpoint, Func<HttpRequestMessage> buildRequest,
        string? rejectedToken, CancellationToken cancellationToken)
    {
        var token = await _tokens.GetAsync(_http, connection, rejectedToken, cancellationToken);
        if (token.Token is null)
        {
            return new Attempt(token.Kind, null, [token.Error!], null, false, null, Counted: false);
        }

        using var request = buildRequest();
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token.Token);
        request.Options.Set(EndpointOption, endpoint);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException exception)
        {
            // Connection refused, reset, DNS: the call never reached Marketo, so it is not counted.
            return new Attempt(MarketoResultKind.Transient, null, [new MarketoError("connection", Outbound.OutboundErrors.Describe(exception))], null, false, token.Token, Counted: false);
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            var status = ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
            if ((int)response.StatusCode >= 500)
            {
                // Whether Marketo counted a gateway error is unknown; count it, so the budget errs on the safe side.
                return new Attempt(MarketoResultKind.Transient, null, [new MarketoError(status, "HTTP " + status)], null, false, token.Token, Counted: true);
            }
            if (!response.IsSuccessStatusCode)
            {
                // 414 URI too long, 413 body too large, 404…: our request was wrong.
                return new Attempt(MarketoResultKind.CallerError, null, [new MarketoError(status, "HTTP " + status)], null, false, token.Token, Counted: false);
            }

            JsonObject? body;
            try
            {
                body = JsonNode.Parse(text) as JsonObject;
            }
            catch (JsonException)
            {
                body = null;
            }
            if (body is null)
            {
                return new Attempt(MarketoResultKind.Transient, null, [new MarketoError("unreadable", "Response is not a JSON object")], null, false, token.Token, Counted: true);
            }

            var requestId = MarketoJson.String(body["requestId"]);
            if (MarketoJson.Bool(body["success"]))
            {
                return new Attempt(MarketoResultKind.Success, body, [], requestId, false, token.Token, Counted: true);
            }

            var errors = MarketoJson.Errors(body["errors"]);
            if (errors.Count == 0)
            {
                errors = [new MarketoError("", "success:false without errors")];
            }
            var code = errors[0].Code;
            return new Attempt(MarketoErrorCodes.Classify(code), null, errors, requestId, MarketoErrorCodes.IsReAuthentication(code), token.Token,
                Counted: MarketoErrorCodes.IsCounted(code));
        }
    }

    /// <summary>One attempt's outcome; <see cref="TokenUsed"/> lets a 601/602 drop exactly that token.</summary>
    private sealed record Attempt(MarketoResultKind Kind, JsonObject? Body, IReadOnlyList<MarketoError> Errors, string? RequestId,
        bool ReAuthenticate, string? TokenUsed, bool Counted);
}
