using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;

namespace KarteMarketo.MarketoSandbox;

/// <summary>Maps the sandbox's Marketo endpoints (<c>/identity/oauth/token</c>, <c>/rest/v1/…</c>) and its control
/// endpoints (<c>/_sandbox/…</c>) under a prefix.</summary>
public static class SandboxEndpoints
{
    /// <summary>The prefix (under the sandbox's own prefix) of the control endpoints, which are ours, not Marketo's.</summary>
    public const string ControlPrefix = "/_sandbox";

    /// <summary>
    /// Serves the sandbox under <paramref name="prefix"/> (e.g. <c>/sandbox/marketo</c>): the REST base URL is then
    /// <c>{prefix}/rest</c> and the identity URL <c>{prefix}/identity</c>. Needs <see cref="SandboxServiceCollectionExtensions.AddMarketoSandbox"/>.
    /// </summary>
    public static RouteGroupBuilder MapMarketoSandbox(this IEndpointRouteBuilder endpoints, string prefix = "")
    {
        var group = endpoints.MapGroup("/" + prefix.Trim('/'));

        group.MapGet("/identity/oauth/token", IdentityAsync);
        group.MapPost("/identity/oauth/token", IdentityAsync);

        group.MapGet("/rest/v1/leads.json", GetLeadsAsync);
        group.MapPost("/rest/v1/leads.json", PostLeadsAsync);
        group.MapGet("/rest/v1/lead/{leadId}.json", GetLeadByIdAsync);
        group.MapPost("/rest/v1/leads/{leadId}/associate.json", AssociateAsync);
        group.MapGet("/rest/v1/leads/describe.json", DescribeAsync);
        group.MapPost("/rest/v1/activities/external.json", AddActivitiesAsync);
        group.MapGet("/rest/v1/activities/external/types.json", ActivityTypesAsync);
        group.MapGet("/rest/v1/stats/usage.json", UsageAsync);

        group.MapGroup(ControlPrefix).MapSandboxControl();
        return group;
    }

    private static Task GetLeadsAsync(HttpContext context) =>
        RunAsync(context, SandboxEndpointNames.GetLeads, (state, _) => Task.FromResult(LookupFrom(state, context.Request.Query)));

    private static Task GetLeadByIdAsync(HttpContext context, string leadId) =>
        RunAsync(context, SandboxEndpointNames.GetLeadById, (state, _) =>
        {
            state.Counters.RecordLookup(1);
            return Task.FromResult(state.GetLeadById(leadId, Joined(context.Request.Query["fields"])));
        });

    private static Task AssociateAsync(HttpContext context, string leadId) =>
        RunAsync(context, SandboxEndpointNames.AssociateLead, (state, _) =>
            Task.FromResult(state.Associate(leadId, context.Request.Query["cookie"].ToString())));

    private static Task DescribeAsync(HttpContext context) =>
        RunAsync(context, SandboxEndpointNames.DescribeLeads, (state, _) => Task.FromResult(state.Describe()));

    private static Task ActivityTypesAsync(HttpContext context) =>
        RunAsync(context, SandboxEndpointNames.CustomActivityTypes, (state, _) => Task.FromResult(state.ActivityTypes()));

    private static Task UsageAsync(HttpContext context) =>
        RunAsync(context, SandboxEndpointNames.Usage, (state, _) => Task.FromResult(state.Usage()));

    private static Task AddActivitiesAsync(HttpContext context) =>
        RunAsync(context, SandboxEndpointNames.AddCustomActivities, async (state, ct) =>
        {
            var body = await ReadJsonAsync(context, ct);
            return body.Failure ?? state.AddActivities(body.Node);
        });

    private static Task PostLeadsAsync(HttpContext context)
    {
        // POST leads.json?_method=GET with a form body is Get Leads (the documented way around the 8 KB URI limit);
        // without it, POST leads.json is Sync Leads.
        if (string.Equals(context.Request.Query["_method"], "GET", StringComparison.OrdinalIgnoreCase))
        {
            return RunAsync(context, SandboxEndpointNames.GetLeads, async (state, ct) =>
            {
                if (!context.Request.HasFormContentType)
                {
                    return OpResult.Fail("612", "Invalid Content Type");
                }
                var form = await context.Request.ReadFormAsync(ct);
                return LookupFrom(state, form.Select(kv => kv).Concat(context.Request.Query.Where(q => !form.ContainsKey(q.Key)))
                    .ToDictionary(kv => kv.Key, kv => kv.Value));
            });
        }
        return RunAsync(context, SandboxEndpointNames.SyncLeads, async (state, ct) =>
        {
            var body = await ReadJsonAsync(context, ct);
            return body.Failure ?? state.Sync(body.Node);
        });
    }

    private static OpResult LookupFrom(SandboxState state, IEnumerable<KeyValuePair<string, StringValues>> parameters)
    {
        var map = parameters.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var values = Joined(map.GetValueOrDefault("filterValues"));
        state.Counters.RecordLookup(values?.Split(',', StringSplitOptions.RemoveEmptyEntries).Length ?? 0);
        // Repeated filterValues/fields parameters (the spec's collectionFormat=multi) are joined with commas, so both
        // the documented comma-separated form and the spec's form work (open question 7 in the facts).
        return state.Lookup(Joined(map.GetValueOrDefault("filterType")), values, Joined(map.GetValueOrDefault("fields")),
            Joined(map.GetValueOrDefault("batchSize")), Joined(map.GetValueOrDefault("nextPageToken")));
    }

    private static string? Joined(StringValues values) => values.Count == 0 ? null : string.Join(',', values.ToArray());

    private static async Task<JsonBody> ReadJsonAsync(HttpContext context, CancellationToken cancellationToken)
    {
        if (context.Request.ContentType is not { } type || !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return new JsonBody(null, OpResult.Fail("612", "Invalid Content Type"));
        }
        try
        {
            var node = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: cancellationToken);
            return new JsonBody(node, null);
        }
        catch (JsonException)
        {
            return new JsonBody(null, OpResult.Fail("609", "Invalid JSON"));
        }
    }

    private sealed record JsonBody(JsonNode? Node, OpResult? Failure);

    private static async Task IdentityAsync(HttpContext context)
    {
        var state = context.RequestServices.GetRequiredService<SandboxState>();
        var fault = state.TakeFault(SandboxEndpointNames.Identity);
        if (fault is not null && await ApplyTransportFaultAsync(context, state, fault) is { } faultCode)
        {
            state.Counters.RecordCall(new SandboxCall(state.Time.GetUtcNow(), SandboxEndpointNames.Identity, faultCode, false, null));
            return;
        }

        var query = context.Request.Query;
        IFormCollection? form = context.Request.HasFormContentType ? await context.Request.ReadFormAsync(context.RequestAborted) : null;
        string? Param(string name) => query.TryGetValue(name, out var v) ? v.ToString() : form?[name].ToString();

        if (Param("grant_type") != "client_credentials")
        {
            state.Counters.RecordCall(new SandboxCall(state.Time.GetUtcNow(), SandboxEndpointNames.Identity, SandboxCallCodes.Http(400), false, null));
            await WriteJsonAsync(context, 400, new JsonObject
            {
                ["error"] = "unsupported_grant_type", ["error_description"] = "Unsupported grant type",
            });
            return;
        }

        var outcome = state.IssueToken(Param("client_id"), Param("client_secret"));
        if (outcome.Token is null)
        {
            state.Counters.RecordCall(new SandboxCall(state.Time.GetUtcNow(), SandboxEndpointNames.Identity, SandboxCallCodes.Http(401), false, null));
            // OAuth-style body, as client libraries expect it (facts §1).
            await WriteJsonAsync(context, 401, new JsonObject { ["error"] = "unauthorized", ["error_description"] = outcome.Error });
            return;
        }

        state.Counters.RecordCall(new SandboxCall(state.Time.GetUtcNow(), SandboxEndpointNames.Identity, SandboxCallCodes.Success, false,
            outcome.ClientId));
        await WriteJsonAsync(context, 200, new JsonObject
        {
            ["access_token"] = outcome.Token,
            ["token_type"] = "bearer",
            ["expires_in"] = outcome.ExpiresIn,
            ["scope"] = state.ScopeOf(outcome.ClientId!),
        });
    }

    /// <summary>The common path of every REST call: URI limit, token, faults, limits, then the operation.</summary>
    private static async Task RunAsync(HttpContext context, string endpoint, Func<SandboxState, CancellationToken, Task<OpResult>> operation)
    {
        var state = context.RequestServices.GetRequiredService<SandboxState>();
        var rawTarget = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path + context.Request.QueryString;
        if (Encoding.UTF8.GetByteCount(rawTarget) > state.Options.MaxUriBytes)
        {
            state.Counters.RecordCall(new SandboxCall(state.Time.GetUtcNow(), endpoint, SandboxCallCodes.Http(414), false, null));
            context.Response.StatusCode = StatusCodes.Status414UriTooLong;
            return;
        }

        string? token = null;
        var authorization = context.Request.Headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            token = authorization["Bearer ".Length..].Trim();
        }
        else if (state.Options.AcceptAccessTokenParameter)
        {
            token = context.Request.Query["access_token"].ToString();
        }

        var (authCode, clientId) = state.Authenticate(token);
        if (authCode is not null)
        {
            state.Counters.RecordCall(new SandboxCall(state.Time.GetUtcNow(), endpoint, authCode, false, clientId));
            await WriteErrorAsync(context, state, authCode, authCode == "601" ? "Access token invalid" : "Access token expired");
            return;
        }

        var fault = state.TakeFault(endpoint);
        var admission = state.Admit(endpoint, clientId!);
        if (!admission.IsAdmitted)
        {
            state.Counters.RecordCall(new SandboxCall(state.Time.GetUtcNow(), endpoint, admission.Code!, admission.Counted, clientId));
            await WriteErrorAsync(context, state, admission.Code!, admission.Message!);
            return;
        }

        var code = SandboxCallCodes.Abandoned;
        var counted = false;
        try
        {
            if (fault is not null)
            {
                if (await ApplyTransportFaultAsync(context, state, fault) is { } faultCode)
                {
                    code = faultCode;
                    return;
                }
                if (fault.Kind == SandboxFaultKind.MarketoError)
                {
                    code = fault.ErrorCode;
                    counted = SandboxState.IsCounted(code);
                    await WriteErrorAsync(context, state, code, fault.ErrorMessage ?? OfficialMessage(code));
                    return;
                }
            }

            var result = await operation(state, context.RequestAborted);
            code = result.ErrorCode ?? SandboxCallCodes.Success;
            counted = SandboxState.IsCounted(code);
            if (!result.Success)
            {
                await WriteErrorAsync(context, state, result.ErrorCode!, result.ErrorMessage!);
                return;
            }

            var body = new JsonObject { ["requestId"] = state.NextRequestId() };
            if (result.Result is not null)
            {
                body["result"] = result.Result;
            }
            body["success"] = true;
            if (result.NextPageToken is not null)
            {
                body["nextPageToken"] = result.NextPageToken;
                body["moreResult"] = true;
            }
            await WriteJsonAsync(context, 200, body);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            code = SandboxCallCodes.Abandoned;
        }
        finally
        {
            state.Complete(admission, counted);
            state.Counters.RecordCall(new SandboxCall(state.Time.GetUtcNow(), endpoint, code, counted, clientId));
        }
    }

    /// <summary>Latency (then carry on: returns null), hang, or an HTTP error. Returns the recorded code when the call ends here.</summary>
    private static async Task<string?> ApplyTransportFaultAsync(HttpContext context, SandboxState state, SandboxFault fault)
    {
        switch (fault.Kind)
        {
            case SandboxFaultKind.Latency:
                await Task.Delay(fault.Latency, state.Time, context.RequestAborted);
                return null;
            case SandboxFaultKind.Hang:
                try
                {
                    await Task.Delay(Timeout.InfiniteTimeSpan, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                }
                return SandboxCallCodes.Abandoned;
            case SandboxFaultKind.HttpError:
                context.Response.StatusCode = fault.HttpStatus;
                context.Response.ContentType = "text/html";
                await context.Response.WriteAsync($"<html><body><h1>{fault.HttpStatus}</h1></body></html>", context.RequestAborted);
                return SandboxCallCodes.Http(fault.HttpStatus);
            default:
                return null;
        }
    }

    internal static string OfficialMessage(string code) => code switch
    {
        "502" => "Bad Gateway",
        "601" => "Access token invalid",
        "602" => "Access token expired",
        "603" => "Access denied",
        "604" => "Request time-out",
        "605" => "HTTP Method not supported",
        "606" => "Max rate limit '100' exceeded with in '20' secs",
        "607" => "Daily quota reached",
        "608" => "API Temporarily Unavailable",
        "609" => "Invalid JSON",
        "610" => "Requested resource not found",
        "611" => "System error",
        "612" => "Invalid Content Type",
        "614" => "Invalid Subscription",
        "615" => "Concurrent access limit reached",
        "713" => "Transient Error",
        _ => "Error",
    };

    private static Task WriteErrorAsync(HttpContext context, SandboxState state, string code, string message) =>
        WriteJsonAsync(context, 200, new JsonObject
        {
            ["requestId"] = state.NextRequestId(),
            ["success"] = false,
            // Marketo sends the code as a quoted string, with HTTP 200 (facts §2, §5).
            ["errors"] = new JsonArray(new JsonObject { ["code"] = code, ["message"] = message }),
        });

    internal static async Task WriteJsonAsync(HttpContext context, int status, JsonObject body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json;charset=UTF-8";
        await context.Response.WriteAsync(body.ToJsonString(), Encoding.UTF8, context.RequestAborted);
    }
}
