using System.Text.Json.Nodes;

namespace KarteMarketo.MarketoSandbox;

/// <summary>
/// <c>/_sandbox/…</c>: the same control as <see cref="SandboxState"/> over HTTP, for callers in another process
/// (integration tests, benchmarks, demos). These routes are the sandbox's own, not Marketo's. No authentication:
/// the sandbox is a test double.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><c>POST /_sandbox/reset</c>: forget everything.</item>
/// <item><c>GET /_sandbox/counters</c>: <see cref="SandboxCounters.ToJson"/>.</item>
/// <item><c>POST /_sandbox/leads</c> <c>{"email","fields":{…},"cookies":[…]}</c> → <c>{"id"}</c>; <c>GET /_sandbox/leads/{id}</c>;
/// <c>PATCH /_sandbox/leads/{id}</c> <c>{"fields":{…}}</c> (a Marketo user editing the lead);
/// <c>POST /_sandbox/leads/{id}/cookies</c> <c>{"cookie"}</c>.</item>
/// <item><c>POST /_sandbox/fields</c> <c>{"name","dataType","length"}</c>; <c>POST /_sandbox/fields/{name}/fail</c> (1006 on lookup).</item>
/// <item><c>POST /_sandbox/activity-types</c> <c>{"apiName","name","primaryAttribute","attributes":[…]}</c> → <c>{"id"}</c>.</item>
/// <item><c>GET|PUT /_sandbox/quota</c> <c>{"dailyQuota","usedToday"}</c>.</item>
/// <item><c>POST /_sandbox/faults</c> <c>{"kind":"Latency|HttpError|Hang|MarketoError","endpoint","count","durationSeconds",
/// "latencyMilliseconds","httpStatus","errorCode","errorMessage"}</c>; <c>DELETE /_sandbox/faults</c>.</item>
/// <item><c>POST /_sandbox/tokens/expire</c> (602 next), <c>POST /_sandbox/tokens/invalidate</c> (601 next),
/// <c>PUT /_sandbox/tokens/expiry</c> <c>{"everySeconds"}</c> (null to stop).</item>
/// <item><c>POST /_sandbox/clients</c> <c>{"clientId","clientSecret"}</c>.</item>
/// </list>
/// </remarks>
internal static class SandboxControlEndpoints
{
    public static RouteGroupBuilder MapSandboxControl(this RouteGroupBuilder group)
    {
        group.MapPost("/reset", (SandboxState state) =>
        {
            state.Reset();
            return Results.NoContent();
        });
        group.MapGet("/counters", (SandboxState state) => Results.Text(state.Counters.ToJson().ToJsonString(), "application/json"));

        group.MapPost("/leads", (SandboxState state, SeedLeadRequest request) =>
        {
            if (string.IsNullOrWhiteSpace(request.Email))
            {
                return Results.Problem("email is required", statusCode: 400);
            }
            if (request.Cookies?.FirstOrDefault(c => !SandboxState.IsValidCookie(c)) is { } bad)
            {
                return Results.Problem($"Invalid cookie value '{bad}'", statusCode: 400);
            }
            var fields = (request.Fields ?? []).Select(kv => (kv.Key, (object?)kv.Value?.DeepClone())).ToArray();
            var id = state.SeedLead(request.Email, fields);
            foreach (var cookie in request.Cookies ?? [])
            {
                state.AddCookieToLead(id, cookie);
            }
            return Results.Ok(new { id });
        });
        group.MapGet("/leads/{id:long}", (SandboxState state, long id) =>
            state.GetLead(id) is { } lead
                ? Results.Text(new JsonObject
                {
                    ["id"] = lead.Id,
                    ["fields"] = new JsonObject([.. lead.Fields.Select(kv => KeyValuePair.Create(kv.Key, kv.Value?.DeepClone()))]),
                    ["cookies"] = new JsonArray([.. lead.Cookies.Select(c => (JsonNode)JsonValue.Create(c))]),
                }.ToJsonString(), "application/json")
                : Results.NotFound());
        group.MapPatch("/leads/{id:long}", (SandboxState state, long id, UpdateLeadRequest request) =>
        {
            if (state.GetLead(id) is null) return Results.NotFound();
            if (request.Fields is not { Count: > 0 } fields) return Results.Problem("fields is required", statusCode: 400);
            state.UpdateLead(id, [.. fields.Select(kv => (kv.Key, (object?)kv.Value?.DeepClone()))]);
            return Results.NoContent();
        });
        group.MapPost("/leads/{id:long}/cookies", (SandboxState state, long id, CookieRequest request) =>
        {
            if (state.GetLead(id) is null)
            {
                return Results.NotFound();
            }
            if (!SandboxState.IsValidCookie(request.Cookie ?? ""))
            {
                return Results.Problem($"Invalid cookie value '{request.Cookie}'", statusCode: 400);
            }
            state.AddCookieToLead(id, request.Cookie!);
            return Results.NoContent();
        });

        group.MapPost("/fields", (SandboxState state, FieldRequest request) =>
        {
            if (string.IsNullOrWhiteSpace(request.Name))
            {
                return Results.Problem("name is required", statusCode: 400);
            }
            state.AddCustomField(request.Name, request.DataType ?? "string", request.Length);
            return Results.NoContent();
        });
        group.MapPost("/fields/{name}/fail", (SandboxState state, string name) =>
        {
            state.FailField(name);
            return Results.NoContent();
        });

        group.MapPost("/activity-types", (SandboxState state, SandboxActivityTypeDefinition request) =>
        {
            if (string.IsNullOrWhiteSpace(request.ApiName) || string.IsNullOrWhiteSpace(request.PrimaryAttribute))
            {
                return Results.Problem("apiName and primaryAttribute are required", statusCode: 400);
            }
            return Results.Ok(new { id = state.AddActivityType(request) });
        });

        group.MapGet("/quota", (SandboxState state) =>
            Results.Ok(new { dailyQuota = state.DailyQuota, usedToday = state.UsedToday, nextReset = state.NextQuotaReset }));
        group.MapPut("/quota", (SandboxState state, QuotaRequest request) =>
        {
            if (request.DailyQuota is < 0 || request.UsedToday is < 0)
            {
                return Results.Problem("values must not be negative", statusCode: 400);
            }
            if (request.DailyQuota is { } quota)
            {
                state.DailyQuota = quota;
            }
            if (request.UsedToday is { } used)
            {
                state.SetUsedToday(used);
            }
            return Results.NoContent();
        });

        group.MapPost("/faults", (SandboxState state, FaultRequest request) =>
        {
            if (!Enum.TryParse<SandboxFaultKind>(request.Kind, ignoreCase: true, out var kind))
            {
                return Results.Problem($"kind must be one of {string.Join(", ", Enum.GetNames<SandboxFaultKind>())}", statusCode: 400);
            }
            state.InjectFault(new SandboxFault
            {
                Kind = kind,
                Endpoint = request.Endpoint,
                Count = request.Count,
                Until = request.DurationSeconds is { } seconds ? state.Time.GetUtcNow().AddSeconds(seconds) : null,
                Latency = TimeSpan.FromMilliseconds(request.LatencyMilliseconds ?? 0),
                HttpStatus = request.HttpStatus ?? 503,
                ErrorCode = request.ErrorCode ?? "611",
                ErrorMessage = request.ErrorMessage,
            });
            return Results.NoContent();
        });
        group.MapDelete("/faults", (SandboxState state) =>
        {
            state.ClearFaults();
            return Results.NoContent();
        });

        group.MapPost("/tokens/expire", (SandboxState state) =>
        {
            state.ExpireAllTokens();
            return Results.NoContent();
        });
        group.MapPost("/tokens/invalidate", (SandboxState state) =>
        {
            state.InvalidateAllTokens();
            return Results.NoContent();
        });
        group.MapPut("/tokens/expiry", (SandboxState state, TokenExpiryRequest request) =>
        {
            state.TokenExpiryEvery = request.EverySeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null;
            return Results.NoContent();
        });

        group.MapPost("/clients", (SandboxState state, ClientRequest request) =>
        {
            if (string.IsNullOrWhiteSpace(request.ClientId) || string.IsNullOrWhiteSpace(request.ClientSecret))
            {
                return Results.Problem("clientId and clientSecret are required", statusCode: 400);
            }
            state.AddClient(request.ClientId, request.ClientSecret);
            return Results.NoContent();
        });
        return group;
    }

    internal sealed record SeedLeadRequest(string? Email, Dictionary<string, JsonNode?>? Fields, List<string>? Cookies);
    internal sealed record CookieRequest(string? Cookie);
    internal sealed record UpdateLeadRequest(Dictionary<string, JsonNode?>? Fields);
    internal sealed record FieldRequest(string? Name, string? DataType, int? Length);
    internal sealed record QuotaRequest(int? DailyQuota, int? UsedToday);
    internal sealed record FaultRequest(string? Kind, string? Endpoint, int? Count, double? DurationSeconds, double? LatencyMilliseconds,
        int? HttpStatus, string? ErrorCode, string? ErrorMessage);
    internal sealed record TokenExpiryRequest(double? EverySeconds);
    internal sealed record ClientRequest(string? ClientId, string? ClientSecret);
}
