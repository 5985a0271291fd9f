using KarteMarketo.Grains.Identity;
using System.Text.Json;
using System.Text.Json.Nodes;
using KarteMarketo.Contracts;
using KarteMarketo.Contracts.Outbox;
using KarteMarketo.Contracts.Projects;
using KarteMarketo.Grains.Outbox;
using KarteMarketo.Grains.Flows.CustomActivities;
using KarteMarketo.Grains.Flows.LeadUpserts;
using KarteMarketo.Grains.Flows.LeadSync;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace KarteMarketo.Server.Apis;

public static class KarteWebhooksApi
{
    /// <summary>Endpoints: KARTE webhooks to custom activities, and their status.</summary>
    public static IEndpointRouteBuilder MapKarteWebhooksApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/v1/projects/{projectId}/webhooks/karte").RequireProjectKey().WithTags("Activities")
            .MapPost("", PostAsync)
            .WithSummary("Queues mapped KARTE events as Marketo custom activities (stored before the 202; a repeated delivery id is accepted once).");
        app.MapGroup("/v1/projects/{projectId}/activities").RequireAdminKey().WithTags("Activities")
            .MapGet("", ListAsync)
            .WithSummary("Queued custom activities, newest first, by status (pending, delivered, failed).");
        app.MapGroup("/v1/projects/{projectId}/activities").RequireAdminKey().WithTags("Activities")
            .MapPost("/retry", (string projectId, HttpRequest request, OutboxRetry retry, CancellationToken cancellationToken) =>
                OutboxHttp.RetryAsync(projectId, OutboxKind.Activities, request, retry, cancellationToken))
            .WithSummary("Sends failed custom activities again: the ids given, or every failed one.");
        return app;
    }

    internal static async Task<Results<Accepted<JsonObject>, ProblemHttpResult>> PostAsync(
        string projectId, HttpContext context, OutboxIntake outbox, TimeProvider time, CancellationToken cancellationToken)
    {
        var body = await JsonBody.ReadNodeAsync(context.Request, cancellationToken);
        if (!body.IsOk) return body.Problem;
        var errors = new ValidationErrors();
        var items = OutboxHttp.ReadItems(body.Value, errors);
        if (items is null || errors.HasErrors) return Problems.Validation(errors);

        var settings = context.GetProjectAccess().Record!.Settings;
        var now = time.GetUtcNow();
        var entries = new List<OutboxEntry>();
        var ignored = 0;
        foreach (var (item, prefix) in items)
        {
            var entry = ReadEvent(item, prefix, settings, now, errors, out var mapped);
            if (!mapped && entry is null && !errors.HasErrors) ignored++;
            if (entry is not null) entries.Add(entry);
        }
        if (errors.HasErrors) return Problems.Validation(errors);

        // Stored before the answer: a database outage throws and the front door answers 503, so nothing is lost.
        var added = await outbox.EnqueueAsync(projectId, OutboxKind.Activities, entries, now, cancellationToken);
        return TypedResults.Accepted((string?)null, new JsonObject
        {
            ["accepted"] = entries.Count,
            ["ignored"] = ignored,
            ["duplicates"] = entries.Count - added,
        });
    }

    /// <summary>One KARTE event: null when it is not mapped (ignored) or invalid (errors added).</summary>
    private static OutboxEntry? ReadEvent(JsonObject item, string prefix, ProjectSettings settings, DateTimeOffset now,
        ValidationErrors errors, out bool mapped)
    {
        mapped = false;
        var before = errors.Count;
        var deliveryId = OutboxHttp.ReadString(item, "id", prefix + "id", errors, required: true);
        var eventName = OutboxHttp.ReadString(item, "event", prefix + "event", errors, required: true);
        var userId = OutboxHttp.ReadString(item, "userId", prefix + "userId", errors, required: false,
            OutboxHttp.MaxUserIdBytes, countBytes: true);
        string? email = null;
        if (OutboxHttp.ReadString(item, "email", prefix + "email", errors, required: false, LeadKeyPolicy.MaxEmailLength) is { } rawEmail)
        {
            if (LeadKeyPolicy.TryNormalizeEmail(rawEmail, out var normalized, out var error)) email = normalized;
            else errors.Add(prefix + "email", error);
        }
        string? cookie = null;
        if (OutboxHttp.ReadString(item, "marketo_cookie", prefix + "marketo_cookie", errors, required: false, LeadKeyPolicy.MaxCookieLength) is { } rawCookie)
        {
            if (LeadKeyPolicy.TryNormalizeCookie(rawCookie, out var normalized, out var error)) cookie = normalized;
            else errors.Add(prefix + "marketo_cookie", error);
        }
        var values = item["values"] switch
        {
            null => new JsonObject(),
            JsonObject o => o,
            _ => null,
        };
        if (values is null) errors.Add(prefix + "values", "must be an object");
        DateTimeOffset activityDate = now;
        if (item["timestamp"] is { } stamp)
        {
            if (stamp.GetValueKind() != JsonValueKind.String || !TryParseTimestamp(stamp.GetValue<string>(), out activityDate))
                errors.Add(prefix + "timestamp", "must be an ISO-8601 date-time with an offset");
        }
        if (errors.Count > before || eventName is null || deliveryId is null || values is null) return null;

        var mapping = settings.ActivityMappings.FirstOrDefault(m => string.Equals(m.Event, eventName, StringComparison.Ordinal));
        if (mapping is null) return null;
        mapped = true;
        if (userId is null && email is null && cookie is null)
        {
            errors.Add(prefix + "email", "is required when there is no userId (the lead is found by email)");
            return null;
        }

        var primary = values[mapping.PrimaryAttribute];
        if (primary is null || primary.GetValueKind() is JsonValueKind.Object or JsonValueKind.Array)
        {
            errors.Add($"{prefix}values.{mapping.PrimaryAttribute}",
                $"is required by the activity mapping of '{mapping.Event}' (a string or number: the primary attribute)");
            return null;
        }
        var attributes = new JsonObject();
        foreach (var (apiName, valueKey) in mapping.Attributes)
        {
            if (values[valueKey] is not { } value) continue;
            if (value.GetValueKind() is JsonValueKind.Object or JsonValueKind.Array)
            {
                errors.Add($"{prefix}values.{valueKey}", "must be a string, number or boolean (it is a mapped attribute)");
                continue;
            }
            attributes[apiName] = value.DeepClone();
        }
        if (errors.Count > before) return null;

        var payload = new ActivityPayload(eventName, mapping.ActivityTypeId, ScalarText(primary), attributes, activityDate, cookie);
        return new OutboxEntry(deliveryId, userId, email, payload.ToJson());
    }

    private static string ScalarText(JsonNode node) => node.GetValueKind() == JsonValueKind.String
        ? node.GetValue<string>()
        : node.ToJsonString();

    private static bool TryParseTimestamp(string text, out DateTimeOffset value)
    {
        value = default;
        // An offset is required (API.md, "Conventions"): a bare local time could be any instant.
        var t = text.IndexOf('T');
        var tail = t < 0 ? "" : text[t..];
        var hasOffset = tail.EndsWith('Z') || tail.EndsWith('z') || tail.LastIndexOfAny(['+', '-']) > 0;
        return hasOffset && DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.None, out value);
    }

    internal static async Task<Results<Ok<JsonObject>, ProblemHttpResult>> ListAsync(
        string projectId, HttpRequest request, OutboxIntake outbox, CancellationToken cancellationToken)
    {
        if (!OutboxHttp.TryReadLimit(request, out var limit, out var problem)) return problem!;
        if (!OutboxHttp.TryReadStatus(request, [OutboxStatus.Pending, OutboxStatus.Delivered, OutboxStatus.Failed], out var statuses, out problem))
            return problem!;
        var rows = await outbox.ListAsync(projectId, OutboxKind.Activities, statuses, limit, cancellationToken);
        return TypedResults.Ok(new JsonObject { ["activities"] = new JsonArray([.. rows.Select(r => (JsonNode)OutboxHttp.Render(r))]) });
    }
}
