using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using KarteMarketo.Grains.Flows.MarketoActivities;
using KarteMarketo.Grains.Flows.KarteWriteBack;
using KarteMarketo.Grains.Identity;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;

namespace KarteMarketo.Server.Apis;

/// <summary>The front door of flow 2 (Marketo webhook → KARTE event): reads and checks the webhook, then hands it to
/// <see cref="MarketoActivityFlow"/>.</summary>
public static class MarketoWebhooksApi
{
    /// <summary>Endpoints: Marketo webhooks to events.</summary>
    public static IEndpointRouteBuilder MapMarketoWebhooksApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/v1/projects/{projectId}/webhooks/marketo").RequireWebhookSecret().WithTags("Marketo webhooks")
            .MapPost("", PostAsync)
            .WithSummary("Records a Marketo webhook (JSON or form encoded) as an event of the users linked to its email, lead id or cookie.");
        return app;
    }

    internal static async Task<Results<Ok<JsonObject>, ProblemHttpResult>> PostAsync(
        string projectId, HttpContext context, MarketoActivityFlow flow, CancellationToken cancellationToken)
    {
        var request = context.Request;
        var idempotencyKey = request.Headers["Idempotency-Key"].ToString();
        var read = await ReadBodyAsync(request, cancellationToken);
        if (read.Problem is not null) return read.Problem;
        var body = read.Body!;

        var errors = new ValidationErrors();
        var eventName = MarketoActivityFlow.DefaultEventName;
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

        if (errors.HasErrors) return Problems.Validation(errors);

        var settings = context.GetProjectAccess().Record!.Settings;
        var recorded = await flow.RecordAsync(projectId, settings, new MarketoWebhook(eventName, dedupeKey, email, leadId, cookie, body),
            cancellationToken);

        // Never an empty body: Marketo treats one as a failed call.
        var response = new JsonObject
        {
            ["recorded"] = true,
            ["users"] = new JsonArray([.. recorded.UserIds.Select(u => (JsonNode)JsonValue.Create(u)!)]),
        };
        if (!recorded.Created) response["duplicate"] = true;
        return TypedResults.Ok(response);
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
}
