using System.Text.Json.Nodes;

namespace KarteMarketo.MarketoSandbox.Karte;

/// <summary>
/// Maps the KARTE stand-in under a prefix (e.g. <c>/sandbox/karte</c>, which is then the <c>karte.endpoint</c>):
/// <c>POST {prefix}/v2/track/event/write</c> as KARTE, and its control routes (ours, not KARTE's; no authentication):
/// <list type="bullet">
/// <item><c>GET {prefix}/_karte/received?userId=&amp;limit=&amp;after=</c>: what it recorded (the last <c>limit</c>, or the
/// first <c>limit</c> after sequence <c>after</c>; each with <c>repeatOf</c> where it repeats an earlier event exactly),
/// calls, answers, max requests per second, first and last call times.</item>
/// <item><c>POST {prefix}/_karte/faults</c> <c>{"kind":"TooManyRequests|ServerError|Hang|Unauthorized|Slow","count":n,"retryAfterSeconds":s,"status":503,"delayMilliseconds":ms}</c>;
/// <c>DELETE {prefix}/_karte/faults</c>.</item>
/// <item><c>PUT {prefix}/_karte/token</c> <c>{"appToken"}</c>: the token it accepts from now on.</item>
/// <item><c>POST {prefix}/_karte/reset</c>: forget what it received and measured.</item>
/// </list>
/// </summary>
public static class KarteStandInEndpoints
{
    public const string ControlPrefix = "/_karte";

    public static RouteGroupBuilder MapKarteStandIn(this IEndpointRouteBuilder endpoints, string prefix = "")
    {
        var group = endpoints.MapGroup("/" + prefix.Trim('/'));
        group.MapPost("/v2/track/event/write", WriteAsync);

        var control = group.MapGroup(ControlPrefix);
        control.MapGet("/received", (KarteStandIn karte, string? userId, int? limit, long? after) =>
            Results.Text(karte.ToJson(userId, limit ?? 1000, after).ToJsonString(), "application/json"));
        control.MapPost("/faults", (KarteStandIn karte, FaultRequest request) =>
        {
            if (!Enum.TryParse<KarteFaultKind>(request.Kind, ignoreCase: true, out var kind))
                return Results.Problem($"kind must be one of {string.Join(", ", Enum.GetNames<KarteFaultKind>())}", statusCode: 400);
            if (request.DelayMilliseconds is < 0 or > 600_000) return Results.Problem("delayMilliseconds must be 0-600000", statusCode: 400);
            karte.AddFault(kind, Math.Max(1, request.Count ?? 1), request.RetryAfterSeconds ?? 1, request.Status ?? 0, request.DelayMilliseconds ?? 0);
            return Results.NoContent();
        });
        control.MapDelete("/faults", (KarteStandIn karte) =>
        {
            karte.ClearFaults();
            return Results.NoContent();
        });
        control.MapPut("/token", (KarteStandIn karte, TokenRequest request) =>
        {
            if (string.IsNullOrEmpty(request.AppToken)) return Results.Problem("appToken is required", statusCode: 400);
            karte.AppToken = request.AppToken;
            return Results.NoContent();
        });
        control.MapPost("/reset", (KarteStandIn karte) =>
        {
            karte.Reset();
            return Results.NoContent();
        });
        return group;
    }

    private static async Task WriteAsync(HttpContext context, KarteStandIn karte)
    {
        using var reader = new StreamReader(context.Request.Body);
        var text = await reader.ReadToEndAsync(context.RequestAborted);
        var answer = karte.Write(context.Request.Headers.Authorization.ToString() is { Length: > 0 } a ? a : null, text);
        if (answer.Hang)
        {
            // Held until the caller gives up (its time-out) or the stand-in stops.
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, karte.Time, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }
            return;
        }
        if (answer.Delay > TimeSpan.Zero)
        {
            // Recorded already; only the answer is late. A caller that gives up meanwhile never learns it was written.
            try
            {
                await Task.Delay(answer.Delay, karte.Time, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
        context.Response.StatusCode = answer.Status;
        context.Response.ContentType = "application/json";
        if (answer.RetryAfterSeconds is { } seconds) context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await context.Response.WriteAsync((answer.Body ?? new JsonObject()).ToJsonString(), context.RequestAborted);
    }

    private sealed record FaultRequest(string? Kind, int? Count, int? RetryAfterSeconds, int? Status, int? DelayMilliseconds);

    private sealed record TokenRequest(string? AppToken);
}
