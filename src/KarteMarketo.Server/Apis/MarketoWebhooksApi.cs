using KarteMarketo.Marketo;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KarteMarketo.Contracts;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Flows.MarketoActivities;
using KarteMarketo.Grains.Flows.KarteWriteBack;
using KarteMarketo.Grains.Flows.LeadSync;
using KarteMarketo.Grains.Identity;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;

namespace KarteMarketo.Server.Apis;

public static partial class MarketoWebhooksApi
{
    public const string DefaultEventName = "marketo_activity";
    public const string DefaultTimeZone = MarketoLimits.DayTimeZoneId;

    /// <summary>Fields whose value is the time of the activity (Marketo's <c>{{system.dateTime}}</c> and the like).</summary>
    private static readonly string[] TimeFields = ["dateTime", "activityDate", "datetime", "activity_date", "date_time"];

    /// <summary>Endpoints: Marketo webhooks to events.</summary>
    public static IEndpointRouteBuilder MapMarketoWebhooksApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/v1/projects/{projectId}/webhooks/marketo").RequireWebhookSecret().WithTags("Marketo webhooks")
            .MapPost("", PostAsync)
            .WithSummary("Records a Marketo webhook (JSON or form encoded) as an event of the users linked to its email, lead id or cookie.");
        return app;
    }

    /// <summary>What the webhook endpoint uses.</summary>
    public sealed record WebhookServices(IWebhookEventStore Events, IUserStore Users, IGrainFactory Grains, TimeProvider Time,
        KarteWriteBackService Karte);

    internal static async Task<Results<Ok<JsonObject>, ProblemHttpResult>> PostAsync(
        string projectId, HttpContext context, [AsParameters] WebhookServices services, CancellationToken cancellationToken)
    {
        var request = context.Request;
        var idempotencyKey = request.Headers["Idempotency-Key"].ToString();
        var read = await ReadBodyAsync(request, cancellationToken);
        if (read.Problem is not null) return read.Problem;
        var body = read.Body!;

        var errors = new ValidationErrors();
        var eventName = DefaultEventName;
        if (body["event_name"] is { } nameNode)
        {
            if (nameNode.GetValueKind() != JsonValueKind.String) errors.Add("event_name", "must be a string");
            else if (nameNode.GetValue<string>().Trim() is { Length: > 0 } name)
            {
                if (name.Length > OutboxHttp.MaxIdLength) errors.Add("event_name", $"must be at most {OutboxHttp.MaxIdLength} characters");
                // Refused here, where Marketo's webhook log shows it, rather than renamed or failing later at KARTE.
                else if (KarteWritePayload.ReservedEventNames.Contains(name))
                    errors.Add("event_name", $"'{name}' is an event name KARTE reserves; choose another");
                eventName = name;
            }
        }
        string? dedupeKey = idempotencyKey.Length > 0 ? idempotencyKey : TextOf(body["dedupe_key"]);
        if (dedupeKey is { Length: > OutboxHttp.MaxIdLength })
            errors.Add(idempotencyKey.Length > 0 ? "Idempotency-Key" : "dedupe_key", $"must be at most {OutboxHttp.MaxIdLength} characters");

        string? email = null;
        if (TextOf(body["email"]) is { } rawEmail)
        {
            if (LeadKeyPolicy.TryNormalizeEmail(rawEmail, out var normalized, out var error)) email = normalized;
            else errors.Add("email", error);
        }
        long? leadId = null;
        if (TextOf(body["leadId"]) is { } rawLead)
        {
            // Marketo's JSON encoding quotes every token, so a lead id may be "318581" as well as 318581.
            if (long.TryParse(rawLead, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0) leadId = id;
            else errors.Add("leadId", "must be a positive integer");
        }
        string? cookie = null;
        if (TextOf(body["marketo_cookie"]) is { } rawCookie)
        {
            if (LeadKeyPolicy.TryNormalizeCookie(rawCookie, out var normalized, out var error)) cookie = normalized;
            else errors.Add("marketo_cookie", error);
        }
        if (!errors.HasErrors && email is null && leadId is null && cookie is null)
            errors.Add("email", "one of email, leadId or marketo_cookie is required");

        var zone = ZoneOf(context.GetProjectAccess().Record?.Settings.Marketo.TimeZone);
        var values = new JsonObject();
        DateTimeOffset? occurredAt = null;
        foreach (var (name, value) in body)
        {
            if (name is "event_name" or "dedupe_key") continue;
            var converted = value?.DeepClone();
            if (value is JsonValue && value.GetValueKind() == JsonValueKind.String && TryReadMarketoTime(value.GetValue<string>(), zone, out var at))
            {
                converted = JsonValue.Create(at.ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture));
                if (TimeFields.Contains(name, StringComparer.Ordinal)) occurredAt ??= at;
            }
            values[name] = converted;
        }
        if (errors.HasErrors) return Problems.Validation(errors);

        var instance = context.GetProjectAccess().Record!.Settings.Marketo.InstanceId;
        var users = await FindUsersAsync(services, projectId, instance, email, leadId, cookie, cancellationToken);
        var recorded = await services.Events.RecordAsync(new NewWebhookEvent(projectId, dedupeKey, eventName, values, email, leadId,
            cookie, users, services.Time.GetUtcNow(), occurredAt), cancellationToken);
        // Stored for KARTE before the 200, for every user the event is recorded on. Also for a repeat: the first
        // delivery may have ended between the two writes, and the delivery ids (event id and user) make it a no-op.
        await services.Karte.EnqueueEventsAsync(projectId,
            [.. recorded.UserIds.Select(u => KarteWriteBackService.WebhookEvent(recorded.EventId, u, eventName, values))], cancellationToken);

        // Never an empty body: Marketo treats one as a failed call.
        var response = new JsonObject
        {
            ["recorded"] = true,
            ["users"] = new JsonArray([.. recorded.UserIds.Select(u => (JsonNode)JsonValue.Create(u)!)]),
        };
        if (!recorded.Created) response["duplicate"] = true;
        return TypedResults.Ok(response);
    }

    /// <summary>The users of the first place <see cref="LeadKeyPolicy.WebhookMatchOrder"/> names that has any (lead ids
    /// of the project's current Marketo instance only).</summary>
    private static async Task<IReadOnlyList<string>> FindUsersAsync(WebhookServices services, string projectId, string instance, string? email,
        long? leadId, string? cookie, CancellationToken cancellationToken)
    {
        foreach (var match in LeadKeyPolicy.WebhookMatchOrder(email, leadId, cookie))
        {
            IReadOnlyList<string> users = match.Key is { } key
                ? (await services.Grains.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(projectId, key.Type, key.Value)).GetAsync()).LinkedUsers
                : await services.Users.FindUsersByLeadIdAsync(projectId, instance, match.LeadId!.Value, cancellationToken);
            if (users.Count > 0) return users;
        }
        return [];
    }

    /// <summary>The body as a JSON object, from JSON or from <c>application/x-www-form-urlencoded</c>.</summary>
    private static async Task<(JsonObject? Body, ProblemHttpResult? Problem)> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.HasFormContentType)
        {
            if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var media) ||
                !media.MediaType.Equals("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase))
                return (null, Problems.UnsupportedMediaType("Send JSON or application/x-www-form-urlencoded."));
            IFormCollection form;
            try
            {
                form = await request.ReadFormAsync(cancellationToken);
            }
            catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                return (null, Problems.PayloadTooLarge());
            }
            catch (InvalidDataException)
            {
                return (null, Problems.BadRequest("The form body is malformed."));
            }
            if (TextRule.CheckForm(form) is { } bad)
                return (null, Problems.Validation(bad.Path, bad.Message, "The request holds text that cannot be stored; see errors. Nothing was changed."));
            var fromForm = new JsonObject();
            foreach (var (name, value) in form)
            {
                if (name.Length == 0) continue;
                fromForm[name] = value.Count == 1
                    ? JsonValue.Create(value[0])
                    : new JsonArray([.. value.Select(v => (JsonNode?)JsonValue.Create(v))]);
            }
            return (fromForm, null);
        }

        // Marketo sends the template as typed; where no Content-Type header was set up it may arrive as text/plain.
        if (MediaTypeHeaderValue.TryParse(request.ContentType, out var type) &&
            type.MediaType.Equals("text/plain", StringComparison.OrdinalIgnoreCase))
            request.ContentType = "application/json";
        var json = await JsonBody.ReadNodeAsync(request, cancellationToken);
        if (!json.IsOk) return (null, json.Problem);
        return json.Value is JsonObject o ? (o, null) : (null, Problems.Validation("$", "must be a JSON object"));
    }

    /// <summary>A scalar as text (numbers as written); null for absent, null, empty or non-scalar values.</summary>
    private static string? TextOf(JsonNode? node)
    {
        if (node is not JsonValue value) return null;
        var text = value.GetValueKind() switch
        {
            JsonValueKind.String => value.GetValue<string>(),
            JsonValueKind.Number => value.ToJsonString(),
            _ => null,
        };
        return string.IsNullOrWhiteSpace(text) ? null : text.Trim();
    }

    private static TimeZoneInfo ZoneOf(string? id)
    {
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(string.IsNullOrWhiteSpace(id) ? DefaultTimeZone : id);
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            return TimeZoneInfo.FindSystemTimeZoneById(DefaultTimeZone);
        }
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?$")]
    private static partial Regex LocalDateTime();

    /// <summary>
    /// A time written the way <c>{{system.dateTime}}</c> renders it (<c>2013-08-08 16:36:13</c>): no offset, in the
    /// Marketo instance's time zone. Read in <paramref name="zone"/>; times that carry an offset are left as they are.
    /// </summary>
    internal static bool TryReadMarketoTime(string text, TimeZoneInfo zone, out DateTimeOffset at)
    {
        at = default;
        var trimmed = text.Trim();
        if (!LocalDateTime().IsMatch(trimmed) ||
            !DateTime.TryParse(trimmed.Replace(' ', 'T'), CultureInfo.InvariantCulture, DateTimeStyles.None, out var local))
            return false;
        local = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        // In the autumn's repeated hour the earlier (daylight) reading is taken; a time in the spring gap is moved
        // forward by the gap, as a wall clock would be.
        if (zone.IsInvalidTime(local)) local = local.AddHours(1);
        var offset = zone.IsAmbiguousTime(local) ? zone.GetAmbiguousTimeOffsets(local).Max() : zone.GetUtcOffset(local);
        at = new DateTimeOffset(local, offset);
        return true;
    }
}
