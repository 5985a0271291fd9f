using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KarteMarketo.Contracts.Projects;
using KarteMarketo.Grains.Flows.LeadSync;
using KarteMarketo.Grains.Identity;
using KarteMarketo.Grains.Telemetry;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Http.HttpResults;

namespace KarteMarketo.Server.Apis;

public static class EventsApi
{
    /// <summary>Most events in one request.</summary>
    public const int MaxEventsPerRequest = 1_000;

    /// <summary>Requests of identify events only, by how they were answered: <c>path=shortcut</c> (no grain call) or
    /// <c>path=grain</c>.</summary>
    private static readonly Counter<long> IdentifyRequests = KarteMarketoMetrics.Meter.CreateCounter<long>(
        "kartemarketo.events.identify_requests", description: "Identify-only event requests, by path (shortcut: no grain call)");

    /// <summary>Endpoints: KARTE events in.</summary>
    public static IEndpointRouteBuilder MapEventsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/projects/{projectId}").RequireProjectKey().WithTags("Events");
        group.MapPost("/events", PostEventsAsync)
            .WithSummary("Accepts one KARTE event or an array of up to 1,000; identify events link users to their lookup keys and start realtime syncs.");
        return app;
    }

    /// <summary>The answer: how many events were accepted.</summary>
    public sealed record EventsAccepted(int Accepted);

    internal static async Task<Results<Accepted<EventsAccepted>, ProblemHttpResult>> PostEventsAsync(
        string projectId, HttpContext context, IdentifyIntake intake, CancellationToken cancellationToken)
    {
        var bytes = await JsonBody.ReadUtf8Async(context.Request, cancellationToken);
        if (!bytes.IsOk) return bytes.Problem;
        var record = context.GetProjectAccess().Record;
        List<IdentifyInput>? identifies;
        int count;
        using (var body = bytes.Value)
        {
            if (record is null) return Problems.ProjectNotFound(projectId);
            // The hot path (issue 18): identify events read straight from the bytes (source-generated, no JsonNode);
            // where every one of them is known to change nothing (IdentifyShortcuts) the answer needs no grain call.
            var fast = IdentifyEvents.TryRead(body.Span);
            identifies = fast is null ? null : CheckFast(fast);
            if (fast is null || identifies is null)
                return await SlowPathAsync(projectId, record, body, intake, cancellationToken);
            count = fast.Length;
        }
        if (await intake.TryShortcutAsync(projectId, record, identifies, cancellationToken))
        {
            IdentifyRequests.Add(1, new KeyValuePair<string, object?>("path", "shortcut"));
            return Accepted(count);
        }
        IdentifyRequests.Add(1, new KeyValuePair<string, object?>("path", "grain"));
        // Stored before the 202.
        await intake.AcceptAsync(projectId, record.Settings, identifies, new HashSet<string>(identifies.Select(i => i.UserId), StringComparer.Ordinal),
            cancellationToken);
        return Accepted(count);
    }

    private static Accepted<EventsAccepted> Accepted(int count) => TypedResults.Accepted((string?)null, new EventsAccepted(count));

    /// <summary>An identify event that passes every check the slow path makes, with its keys normalised.</summary>
    private static bool TryNormalize(IdentifyEvent e, out string userId, out string? email, out string? cookie)
    {
        userId = e.UserId!;
        email = null;
        cookie = null;
        if (e.UserId is not { Length: > 0 and <= 512 } || Encoding.UTF8.GetByteCount(e.UserId) > 512) return false;
        if (e.Event != "identify" || e.Values is not { } values) return false;
        if (values.Email is { } rawEmail && !LeadKeyPolicy.TryNormalizeEmail(rawEmail, out email, out _)) return false;
        if (values.MarketoCookie is { } rawCookie && !LeadKeyPolicy.TryNormalizeCookie(rawCookie, out cookie, out _)) return false;
        return email is not null || cookie is not null;
    }

    /// <summary>The fast-read events as checked identifies, or null where one fails a check (the slow path then names it).</summary>
    private static List<IdentifyInput>? CheckFast(IdentifyEvent[] events)
    {
        var list = new List<IdentifyInput>(events.Length);
        foreach (var e in events)
        {
            if (!TryNormalize(e, out var userId, out var email, out var cookie)) return null;
            list.Add(new IdentifyInput(userId, email, cookie));
        }
        return list;
    }

    /// <summary>Any body: parsed as a node and checked event by event, each problem named by its path.</summary>
    private static async Task<Results<Accepted<EventsAccepted>, ProblemHttpResult>> SlowPathAsync(string projectId, ProjectRecord record,
        Utf8Body bytes, IdentifyIntake intake, CancellationToken cancellationToken)
    {
        var body = JsonBody.ParseNode(bytes.Span);
        if (!body.IsOk) return body.Problem;

        var errors = new ValidationErrors();
        List<(JsonNode? Node, string Path)> items;
        switch (body.Value)
        {
            case JsonArray array when array.Count is 0 or > MaxEventsPerRequest:
                return Problems.Validation("$", $"must hold 1 to {MaxEventsPerRequest} events");
            case JsonArray array:
                items = [.. array.Select((n, i) => (n, $"[{i}]"))];
                break;
            case JsonObject single:
                items = [(single, "")];
                break;
            default:
                return Problems.Validation("$", "must be an event object or an array of events");
        }

        var identifies = new List<IdentifyInput>();
        var seenUsers = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (node, path) in items)
        {
            if (Check(node, path, errors) is not { } parsed) continue;
            seenUsers.Add(parsed.UserId);
            if (parsed.Email is not null || parsed.Cookie is not null) identifies.Add(parsed);
        }
        if (errors.HasErrors) return Problems.Validation(errors, "One or more events are invalid; see errors. No event was accepted.");
        // Stored before the 202.
        await intake.AcceptAsync(projectId, record.Settings, identifies, seenUsers, cancellationToken);
        return Accepted(items.Count);
    }

    private static IdentifyInput? Check(JsonNode? node, string path, ValidationErrors errors)
    {
        string At(string member) => path.Length == 0 ? member : $"{path}.{member}";
        if (node is not JsonObject item)
        {
            errors.Add(path.Length == 0 ? "$" : path, "must be an event object");
            return null;
        }

        var before = errors.Count;
        var userId = ReadString(item, "userId", At("userId"), errors, required: true);
        if (userId is not null && Encoding.UTF8.GetByteCount(userId) is 0 or > 512)
            errors.Add(At("userId"), "must be 1–512 bytes");
        var name = ReadString(item, "event", At("event"), errors, required: true);
        if (name is not null && name.Length == 0) errors.Add(At("event"), "must not be empty");

        JsonObject? values = null;
        if (item["values"] is JsonObject o) values = o;
        else if (item.TryGetPropertyValue("values", out var v) && v is not null) errors.Add(At("values"), "must be an object");

        string? email = null, cookie = null;
        if (name == "identify" && values is not null)
        {
            var rawEmail = ReadString(values, "email", At("values.email"), errors, required: false);
            if (rawEmail is not null)
            {
                if (LeadKeyPolicy.TryNormalizeEmail(rawEmail, out var normalized, out var emailError)) email = normalized;
                else errors.Add(At("values.email"), emailError);
            }
            var rawCookie = ReadString(values, "marketo_cookie", At("values.marketo_cookie"), errors, required: false);
            if (rawCookie is not null)
            {
                if (LeadKeyPolicy.TryNormalizeCookie(rawCookie, out var normalized, out var cookieError)) cookie = normalized;
                else errors.Add(At("values.marketo_cookie"), cookieError);
            }
        }

        return errors.Count > before || userId is null ? null : new IdentifyInput(userId, email, cookie);
    }

    private static string? ReadString(JsonObject item, string member, string path, ValidationErrors errors, bool required)
    {
        if (!item.TryGetPropertyValue(member, out var node) || node is null)
        {
            if (required) errors.Add(path, "is required");
            return null;
        }
        if (node is JsonValue value && value.GetValueKind() == JsonValueKind.String) return value.GetValue<string>();
        errors.Add(path, "must be a string");
        return null;
    }
}
