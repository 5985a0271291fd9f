using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace KarteMarketo.Marketo;

/// <summary>
/// <see cref="IMarketoClient"/> over one <see cref="HttpClient"/>. Each call: token from <see cref="MarketoTokenCache"/>
/// (sent only as <c>Authorization: Bearer</c>), then the request under a Polly pipeline (per-endpoint time-out per
/// attempt, jittered exponential retries of transient kinds only, delays on the injected <see cref="TimeProvider"/>).
/// 601/602 drop the token and repeat the call once with a fresh one. 606/615/607 and caller errors are returned at once.
/// Transient retries of codes Marketo counts (502, 713, HTTP 5xx, time-outs) may cost extra counted calls; the quota
/// grain reconciles with the usage endpoint.
/// </summary>
public sealed class MarketoClient : IMarketoClient
{
    /// <summary>Marketo's limit on values, records and activities per call.</summary>
    public const int MaxBatchSize = 300;

    internal static readonly HttpRequestOptionsKey<string> EndpointOption = new("KarteMarketo.MarketoEndpoint");
    private static readonly ResiliencePropertyKey<TimeSpan> TimeoutKey = new("KarteMarketo.MarketoTimeout");
    private static readonly ResiliencePropertyKey<string> EndpointKey = new("KarteMarketo.MarketoEndpoint");
    private static readonly ResiliencePropertyKey<Tally> TallyKey = new("KarteMarketo.MarketoTally");
    private static readonly ResiliencePropertyKey<IMarketoAttemptBudget?> BudgetKey = new("KarteMarketo.MarketoAttemptBudget");
    private static readonly TimeZoneInfo Central = TimeZoneInfo.FindSystemTimeZoneById("America/Chicago");

    private readonly HttpClient _http;
    private readonly MarketoTokenCache _tokens;
    private readonly MarketoClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ResiliencePipeline<Attempt> _pipeline;

    public MarketoClient(HttpClient http, MarketoTokenCache tokens, IOptions<MarketoClientOptions> options, TimeProvider timeProvider,
        ILogger<MarketoClient>? logger = null)
    {
        _http = http;
        _tokens = tokens;
        _options = options.Value;
        _time = timeProvider;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _pipeline = BuildPipeline();
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
        if (filterValues.Count > MaxBatchSize)
        {
            return Task.FromResult(NotSent<LeadPage>("1003", $"Too many filter values ({filterValues.Count}); at most {MaxBatchSize} per call"));
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
        // 8 KB URI limit (HTTP 414), and one request shape for every lookup is simpler to test. Form encoding turns the
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
        if (input.Count == 0 || input.Count > MaxBatchSize)
        {
            return Task.FromResult(NotSent<IReadOnlyList<LeadSyncResult>>("1003", $"Sync Leads takes 1 to {MaxBatchSize} records, not {input.Count}"));
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
        if (input.Count == 0 || input.Count > MaxBatchSize)
        {
            return Task.FromResult(NotSent<IReadOnlyList<ActivityResult>>("1003", $"Add Custom Activities takes 1 to {MaxBatchSize} activities, not {input.Count}"));
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
                           DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(_time.GetUtcNow(), Central).DateTime);
                return new DailyUsage(date, (int)(MarketoJson.Long(today?["total"]) ?? 0));
            },
            cancellationToken);

    /// <inheritdoc />
    public async Task<MarketoResult<bool>> CheckCredentialsAsync(MarketoConnection connection, CancellationToken cancellationToken = default)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(TimeoutKey, _options.DefaultTimeout);
        try
        {
            var attempt = await _pipeline.ExecuteAsync(static async (ctx, state) =>
            {
                var token = await state.Self._tokens.GetAsync(state.Self._http, state.Connection, null, ctx.CancellationToken, forceRequest: true);
                return token.Token is not null
                    ? new Attempt(MarketoResultKind.Success, null, [], null, false, null)
                    : new Attempt(token.Kind, null, [token.Error!], null, false, null);
            }, context, (Self: this, Connection: connection));
            return attempt.Kind == MarketoResultKind.Success
                ? MarketoResult<bool>.Ok(true, null) with { CountedByMarketo = false }
                : new MarketoResult<bool>(attempt.Kind, false, attempt.Errors, null) { CountedByMarketo = false };
        }
        catch (TimeoutRejectedException)
        {
            return new MarketoResult<bool>(MarketoResultKind.Transient, false, [new MarketoError("timeout", "Identity did not answer in time")], null)
            {
                CountedByMarketo = false,
            };
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
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

    private async Task<MarketoResult<T>> CallAsync<T>(MarketoConnection connection, string endpoint, TimeSpan timeout,
        Func<HttpRequestMessage> buildRequest, Func<JsonObject, T> read, CancellationToken cancellationToken)
    {
        var tally = new Tally();
        string? rejectedToken = null;
        for (var pass = 0; ; pass++)
        {
            var attempt = await RunPipelineAsync(connection, endpoint, timeout, buildRequest, rejectedToken, tally, cancellationToken);
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
                    CountedByMarketo = tally.Counted > 0,
                };
            }

            if (attempt.Kind != MarketoResultKind.Success)
            {
                if (attempt.Kind != MarketoResultKind.CallerError)
                {
                    _logger.LogWarning("Marketo {Endpoint} ended {Kind} ({Codes}), request {RequestId}", endpoint, attempt.Kind,
                        string.Join(',', attempt.Errors.Select(e => e.Code)), attempt.RequestId);
                }
                return new MarketoResult<T>(attempt.Kind, default, attempt.Errors, attempt.RequestId) { CountedByMarketo = tally.Counted > 0 };
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
            return MarketoResult<T>.Ok(value, attempt.RequestId) with { CountedByMarketo = tally.Counted > 0 };
        }
    }

    private async Task<Attempt> RunPipelineAsync(MarketoConnection connection, string endpoint, TimeSpan timeout,
        Func<HttpRequestMessage> buildRequest, string? rejectedToken, Tally tally, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(TimeoutKey, timeout);
        context.Properties.Set(EndpointKey, endpoint);
        context.Properties.Set(TallyKey, tally);
        context.Properties.Set(BudgetKey, connection.AttemptBudget);
        try
        {
            var state = new AttemptState(this, connection, endpoint, buildRequest, rejectedToken, tally);
            return await _pipeline.ExecuteAsync(static (ctx, s) => s.Self.AttemptAsync(s, ctx.CancellationToken), context, state);
        }
        catch (TimeoutRejectedException)
        {
            // A call that timed out may still have run in Marketo: count it.
            tally.Counted++;
            return new Attempt(MarketoResultKind.Transient, null, [new MarketoError("timeout", $"No answer within {timeout.TotalSeconds:0.###} s")],
                null, false, null);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private async ValueTask<Attempt> AttemptAsync(AttemptState state, CancellationToken cancellationToken)
    {
        var token = await _tokens.GetAsync(_http, state.Connection, state.RejectedToken, cancellationToken);
        if (token.Token is null)
        {
            return new Attempt(token.Kind, null, [token.Error!], null, false, null);
        }

        using var request = state.BuildRequest();
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token.Token);
        request.Options.Set(EndpointOption, state.Endpoint);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException exception)
        {
            // Connection refused, reset, DNS: the call never reached Marketo, so it is not counted.
            return new Attempt(MarketoResultKind.Transient, null, [new MarketoError("connection", Outbound.OutboundErrors.Describe(exception))], null, false, token.Token);
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            if ((int)response.StatusCode >= 500)
            {
                // Whether Marketo counted a gateway error is unknown; count it, so the budget errs on the safe side.
                state.Tally.Counted++;
                return new Attempt(MarketoResultKind.Transient, null,
                    [new MarketoError(((int)response.StatusCode).ToString(CultureInfo.InvariantCulture), "HTTP " + (int)response.StatusCode)], null, false, token.Token);
            }
            if (!response.IsSuccessStatusCode)
            {
                // 414 URI too long, 413 body too large, 404…: our request was wrong.
                return new Attempt(MarketoResultKind.CallerError, null,
                    [new MarketoError(((int)response.StatusCode).ToString(CultureInfo.InvariantCulture), "HTTP " + (int)response.StatusCode)], null, false, token.Token);
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
                state.Tally.Counted++;
                return new Attempt(MarketoResultKind.Transient, null, [new MarketoError("unreadable", "Response is not a JSON object")], null, false, token.Token);
            }

            var requestId = MarketoJson.String(body["requestId"]);
            if (MarketoJson.Bool(body["success"]))
            {
                state.Tally.Counted++;
                return new Attempt(MarketoResultKind.Success, body, [], requestId, false, token.Token);
            }

            var errors = MarketoJson.Errors(body["errors"]);
            if (errors.Count == 0)
            {
                errors = [new MarketoError("", "success:false without errors")];
            }
            var code = errors[0].Code;
            if (MarketoErrorCodes.IsCounted(code))
            {
                state.Tally.Counted++;
            }
            return new Attempt(MarketoErrorCodes.Classify(code), null, errors, requestId, MarketoErrorCodes.IsReAuthentication(code), token.Token);
        }
    }

    private ResiliencePipeline<Attempt> BuildPipeline()
    {
        // Polly waits on our TimeProvider, so back-off delays and time-outs follow FakeTimeProvider in tests.
        var builder = new ResiliencePipelineBuilder<Attempt> { TimeProvider = _time };
        if (_options.MaxRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<Attempt>
            {
                // Only transient kinds are retried here; 601/602 are handled once outside, 606/615/607 go back to the caller.
                ShouldHandle = ShouldRetryAsync,
                MaxRetryAttempts = _options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = _options.RetryBaseDelay,
                MaxDelay = _options.RetryMaxDelay,
                OnRetry = args =>
                {
                    var endpoint = args.Context.Properties.GetValue(EndpointKey, "identity");
                    if (args.Outcome.Exception is TimeoutRejectedException && args.Context.Properties.TryGetValue(TallyKey, out var tally))
                    {
                        tally.Counted++;
                    }
                    _logger.LogInformation("Marketo {Endpoint} attempt {Attempt} failed transiently ({Reason}); retrying in {Delay}",
                        endpoint, args.AttemptNumber + 1,
                        args.Outcome.Exception?.GetType().Name ?? string.Join(',', args.Outcome.Result!.Errors.Select(e => e.Code)), args.RetryDelay);
                    return ValueTask.CompletedTask;
                },
            });
        }
        builder.AddTimeout(new TimeoutStrategyOptions
        {
            TimeoutGenerator = args => ValueTask.FromResult(args.Context.Properties.GetValue(TimeoutKey, _options.DefaultTimeout)),
        });
        return builder.Build();
    }

    /// <summary>Transient outcomes are retried, but only under a new permit where the caller rations attempts.</summary>
    private async ValueTask<bool> ShouldRetryAsync(RetryPredicateArguments<Attempt> args)
    {
        var transient = args.Outcome.Exception is TimeoutRejectedException ||
                        args.Outcome.Result is { Kind: MarketoResultKind.Transient, ReAuthenticate: false };
        // Polly asks before it checks the attempt count: after the last attempt no permit may be taken.
        if (!transient || args.AttemptNumber >= _options.MaxRetries) return false;
        var budget = args.Context.Properties.GetValue(BudgetKey, null);
        return budget is null || await budget.TryBeginRetryAsync(args.Context.CancellationToken);
    }

    private sealed class Tally
    {
        public int Counted { get; set; }
    }

    private sealed record AttemptState(MarketoClient Self, MarketoConnection Connection, string Endpoint, Func<HttpRequestMessage> BuildRequest,
        string? RejectedToken, Tally Tally);

    /// <summary>One attempt's outcome; <see cref="TokenUsed"/> lets a 601/602 drop exactly that token.</summary>
    internal sealed record Attempt(MarketoResultKind Kind, JsonObject? Body, IReadOnlyList<MarketoError> Errors, string? RequestId,
        bool ReAuthenticate, string? TokenUsed);
}
