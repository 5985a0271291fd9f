using KarteMarketo.Grains.Identity;
using System.Text.Json;
using System.Text.Json.Nodes;
using KarteMarketo.Contracts;
using KarteMarketo.Contracts.Outbox;
using KarteMarketo.Grains.Outbox;
using KarteMarketo.Grains.Flows.CustomActivities;
using KarteMarketo.Grains.Flows.LeadUpserts;
using KarteMarketo.Grains.Flows.LeadSync;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace KarteMarketo.Server.Apis;

public static class LeadsApi
{
    private const int MaxFieldNameLength = 255;

    /// <summary>Endpoints: lead upserts (KARTE user → Marketo lead) and their status.</summary>
    public static IEndpointRouteBuilder MapLeadsApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/v1/projects/{projectId}/leads").RequireProjectKey().WithTags("Leads")
            .MapPost("", PostAsync)
            .WithSummary("Queues lead upserts (createOrUpdate by email, cookie associated once); stored before the 202.");
        app.MapGroup("/v1/projects/{projectId}/leads").RequireAdminKey().WithTags("Leads")
            .MapGet("", ListAsync)
            .WithSummary("Queued lead upserts, newest first, by status (pending, delivered, skipped, failed), with Marketo's reasons.");
        app.MapGroup("/v1/projects/{projectId}/leads").RequireAdminKey().WithTags("Leads")
            .MapPost("/retry", (string projectId, HttpRequest request, OutboxRetry retry, CancellationToken cancellationToken) =>
                OutboxHttp.RetryAsync(projectId, OutboxKind.Leads, request, retry, cancellationToken))
            .WithSummary("Sends failed lead upserts again: the ids given, or every failed one.");
        return app;
    }

    internal static async Task<Results<Accepted<JsonObject>, ProblemHttpResult>> PostAsync(
        string projectId, HttpContext context, OutboxIntake outbox, TimeProvider time, CancellationToken cancellationToken)
    {
        var idempotencyKey = context.Request.Headers["Idempotency-Key"].ToString();
        if (idempotencyKey.Length > OutboxHttp.MaxIdLength)
            return Problems.Validation("Idempotency-Key", $"must be at most {OutboxHttp.MaxIdLength} characters");
        var body = await JsonBody.ReadNodeAsync(context.Request, cancellationToken);
        if (!body.IsOk) return body.Problem;
        var errors = new ValidationErrors();
        var items = OutboxHttp.ReadItems(body.Value, errors);
        if (items is null || errors.HasErrors) return Problems.Validation(errors);

        var entries = new List<OutboxEntry>();
        for (var i = 0; i < items.Count; i++)
        {
            // A client's Idempotency-Key makes a retried request add nothing; without one every request is new.
            var deliveryId = idempotencyKey.Length == 0
                ? Guid.NewGuid().ToString("N")
                : body.Value is JsonArray ? $"{idempotencyKey}#{i}" : idempotencyKey;
            if (ReadLead(items[i].Item, items[i].Prefix, deliveryId, errors) is { } entry) entries.Add(entry);
        }
        if (errors.HasErrors) return Problems.Validation(errors);

        // Stored before the 202; the dispatcher is woken (or, failing that, the outbox scan finds the rows).
        var added = await outbox.EnqueueAsync(projectId, OutboxKind.Leads, entries, time.GetUtcNow(), cancellationToken);
        return TypedResults.Accepted((string?)null, new JsonObject
        {
            ["accepted"] = entries.Count,
            ["duplicates"] = entries.Count - added,
        });
    }

    private static OutboxEntry? ReadLead(JsonObject item, string prefix, string deliveryId, ValidationErrors errors)
    {
        var before = errors.Count;
        var userId = OutboxHttp.ReadString(item, "userId", prefix + "userId", errors, required: false,
            OutboxHttp.MaxUserIdBytes, countBytes: true);
        string? email = null;
        if (OutboxHttp.ReadString(item, "email", prefix + "email", errors, required: true, LeadKeyPolicy.MaxEmailLength) is { } rawEmail)
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

        var fields = new JsonObject();
        switch (item["fields"])
        {
            case null:
                break;
            case JsonObject given:
                foreach (var (name, value) in given)
                {
                    if (name.Length is 0 or > MaxFieldNameLength)
                        errors.Add($"{prefix}fields", $"field names must be 1–{MaxFieldNameLength} characters");
                    else if (value is not null && value.GetValueKind() is JsonValueKind.Object or JsonValueKind.Array)
                        errors.Add($"{prefix}fields.{name}", "must be a string, number, boolean or null");
                    // The lookup field is the record's email; a second email in fields would contradict it.
                    else if (!string.Equals(name, "email", StringComparison.OrdinalIgnoreCase))
                        fields[name] = value?.DeepClone();
                }
                break;
            default:
                errors.Add(prefix + "fields", "must be an object");
                break;
        }
        if (errors.Count > before || email is null) return null;
        return new OutboxEntry(deliveryId, userId, email, new LeadPayload(email, fields, cookie).ToJson());
    }

    internal static async Task<Results<Ok<JsonObject>, ProblemHttpResult>> ListAsync(
        string projectId, HttpRequest request, OutboxIntake outbox, CancellationToken cancellationToken)
    {
        if (!OutboxHttp.TryReadLimit(request, out var limit, out var problem)) return problem!;
        if (!OutboxHttp.TryReadStatus(request, [OutboxStatus.Pending, OutboxStatus.Delivered, OutboxStatus.Skipped, OutboxStatus.Failed],
                out var statuses, out problem))
            return problem!;
        var rows = await outbox.ListAsync(projectId, OutboxKind.Leads, statuses, limit, cancellationToken);
        return TypedResults.Ok(new JsonObject { ["leads"] = new JsonArray([.. rows.Select(r => (JsonNode)OutboxHttp.Render(r))]) });
    }
}
