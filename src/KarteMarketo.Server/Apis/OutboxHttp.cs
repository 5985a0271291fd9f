using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KarteMarketo.Grains.Outbox;
using KarteMarketo.Grains.Flows.CustomActivities;
using KarteMarketo.Grains.Flows.LeadUpserts;
using Microsoft.AspNetCore.Http.HttpResults;

namespace KarteMarketo.Server.Apis;

/// <summary>What the webhook, outbox and user event endpoints share: limits, query checks and row rendering.</summary>
internal static class OutboxHttp
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 1000;
    public const int MaxBatch = 1000;
    public const int MaxIdLength = 256;
    public const int MaxUserIdBytes = 512;

    /// <summary><c>?limit=</c>: 1–1000, default 100.</summary>
    public static bool TryReadLimit(HttpRequest request, out int limit, out ProblemHttpResult? problem)
    {
        limit = DefaultLimit;
        problem = null;
        var raw = request.Query["limit"].ToString();
        if (raw.Length == 0) return true;
        if (int.TryParse(raw, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out limit)
            && limit is >= 1 and <= MaxLimit)
            return true;
        problem = Problems.Validation("limit", $"must be an integer from 1 to {MaxLimit}");
        return false;
    }

    /// <summary><c>?status=</c>: one status, or none for all. <c>pending</c> includes rows being sent right now.</summary>
    public static bool TryReadStatus(HttpRequest request, IReadOnlyCollection<string> allowed, out string[]? statuses, out ProblemHttpResult? problem)
    {
        statuses = null;
        problem = null;
        var raw = request.Query["status"].ToString();
        if (raw.Length == 0) return true;
        if (!allowed.Contains(raw))
        {
            problem = Problems.Validation("status", $"must be one of {string.Join(", ", allowed)}");
            return false;
        }
        statuses = raw == OutboxStatus.Pending ? [OutboxStatus.Pending, OutboxStatus.InFlight] : [raw];
        return true;
    }

    /// <summary>A required or optional string member: null when absent; an error when present with another type or out of bounds.</summary>
    public static string? ReadString(JsonObject item, string name, string path, ValidationErrors errors, bool required,
        int maxLength = MaxIdLength, bool countBytes = false)
    {
        var node = item[name];
        if (node is null)
        {
            if (required) errors.Add(path, "is required");
            return null;
        }
        if (node.GetValueKind() != JsonValueKind.String)
        {
            errors.Add(path, "must be a string");
            return null;
        }
        var text = node.GetValue<string>();
        var length = countBytes ? Encoding.UTF8.GetByteCount(text) : text.Length;
        if (text.Length == 0 || length > maxLength)
        {
            errors.Add(path, countBytes ? $"must be 1–{maxLength} bytes" : $"must be 1–{maxLength} characters");
            return null;
        }
        return text;
    }

    /// <summary>The items of a body that is one object or an array of 1–1000 objects.</summary>
    public static IReadOnlyList<(JsonObject Item, string Prefix)>? ReadItems(JsonNode body, ValidationErrors errors)
    {
        if (body is JsonObject single) return [(single, "")];
        if (body is not JsonArray array)
        {
            errors.Add("$", "must be an object or an array of objects");
            return null;
        }
        if (array.Count is 0 or > MaxBatch)
        {
            errors.Add("$", $"must hold 1–{MaxBatch} items");
            return null;
        }
        var items = new List<(JsonObject, string)>();
        for (var i = 0; i < array.Count; i++)
        {
            if (array[i] is JsonObject o) items.Add((o, $"[{i}]."));
            else errors.Add($"[{i}]", "must be an object");
        }
        return items;
    }

    /// <summary><c>POST …/activities/retry</c>, <c>…/leads/retry</c> (admin): failed rows back to pending, due now.
    /// Body <c>{ "ids": [12, 13] }</c> for those rows, or no body (or <c>{}</c>) for every failed row (up to 1,000).
    /// Answers <c>202 { "retried": n }</c>.</summary>
    public static async Task<Results<Accepted<JsonObject>, ProblemHttpResult>> RetryAsync(string projectId, OutboxKind kind,
        HttpRequest request, OutboxRetry retry, CancellationToken cancellationToken)
    {
        List<long>? ids = null;
        if (request.ContentLength is > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            var body = await JsonBody.ReadNodeAsync(request, cancellationToken);
            if (!body.IsOk) return body.Problem;
            var errors = new ValidationErrors();
            if (body.Value is not JsonObject o) errors.Add("$", "must be an object");
            else if (o["ids"] is { } node)
            {
                if (node is not JsonArray array || array.Count is 0 or > OutboxRetry.MaxRows)
                    errors.Add("ids", $"must be an array of 1–{OutboxRetry.MaxRows} row ids");
                else
                {
                    ids = [];
                    for (var i = 0; i < array.Count; i++)
                    {
                        if (array[i] is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<long>(out var id)) ids.Add(id);
                        else errors.Add($"ids[{i}]", "must be an integer");
                    }
                }
            }
            if (errors.HasErrors) return Problems.Validation(errors);
        }
        var retried = await retry.RetryAsync(projectId, kind, ids, cancellationToken);
        return TypedResults.Accepted((string?)null, new JsonObject { ["retried"] = retried });
    }

    /// <summary>The status view of an outbox row.</summary>
    public static JsonObject Render(OutboxRow row)
    {
        var json = new JsonObject
        {
            ["id"] = row.Id,
            ["deliveryId"] = row.DeliveryId,
            ["userId"] = row.UserId,
            ["email"] = row.Email,
            ["status"] = row.Status,
            ["attempts"] = row.Attempts,
            ["leadId"] = row.LeadId,
        };
        if (row.Kind == OutboxKind.Activities)
        {
            json["event"] = row.Payload["event"]?.DeepClone();
            json["activityTypeId"] = row.Payload["activityTypeId"]?.DeepClone();
            json["primaryAttributeValue"] = row.Payload["primaryAttributeValue"]?.DeepClone();
            json["attributes"] = row.Payload["attributes"]?.DeepClone();
            json["activityDate"] = row.Payload["activityDate"]?.DeepClone();
            json["marketoGUID"] = row.MarketoGuid;
        }
        else
        {
            json["fields"] = row.Payload["fields"]?.DeepClone();
            json["marketo_cookie"] = row.Payload["cookie"]?.DeepClone();
            json["result"] = row.Result?["status"]?.DeepClone();
            json["reasons"] = row.Result?["reasons"]?.DeepClone() ?? new JsonArray();
            json["association"] = row.Result?["association"]?.DeepClone();
        }
        json["error"] = row.ErrorCode is null && row.ErrorMessage is null
            ? null
            : new JsonObject { ["code"] = row.ErrorCode, ["message"] = row.ErrorMessage };
        json["possibleDuplicate"] = row.PossibleDuplicate;
        json["createdAt"] = row.CreatedAt;
        json["updatedAt"] = row.UpdatedAt;
        json["deliveredAt"] = row.DeliveredAt;
        json["nextAttemptAt"] = row.Status is OutboxStatus.Pending ? row.NextAttemptAt : null;
        return json;
    }
}
