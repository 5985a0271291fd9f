using System.Text.Json.Nodes;
using KarteMarketo.Contracts;
using KarteMarketo.Contracts.Outbox;
using KarteMarketo.Grains.Flows.KarteWriteBack;
using KarteMarketo.Grains.Outbox;
using Microsoft.AspNetCore.Http.HttpResults;
using Orleans;

namespace KarteMarketo.Server.Apis;

public static class KarteWritesApi
{
    /// <summary>Endpoints: the status of a project's writes to KARTE (admin; API.md, "KARTE write-back").</summary>
    public static IEndpointRouteBuilder MapKarteWritesApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/v1/projects/{projectId}/karte-writes").RequireAdminKey().WithTags("KARTE")
            .MapGet("", ListAsync)
            .WithSummary("Whether KARTE writes are paused, counts by status, and the latest writes (?status=pending|delivered|failed&limit=100).");
        app.MapGroup("/v1/projects/{projectId}/karte-writes").RequireAdminKey().WithTags("KARTE")
            .MapPost("/retry", (string projectId, HttpRequest request, OutboxRetry retry, CancellationToken cancellationToken) =>
                OutboxHttp.RetryAsync(projectId, OutboxKind.Karte, request, retry, cancellationToken))
            .WithSummary("Writes failed KARTE writes again (as the console's retry does): the ids given, or every failed one.");
        return app;
    }

    internal static async Task<Results<Ok<JsonObject>, ProblemHttpResult>> ListAsync(
        string projectId, HttpRequest request, OutboxIntake outbox, IGrainFactory grains, CancellationToken cancellationToken)
    {
        if (!OutboxHttp.TryReadLimit(request, out var limit, out var problem)) return problem!;
        if (!OutboxHttp.TryReadStatus(request, [OutboxStatus.Pending, OutboxStatus.Delivered, OutboxStatus.Failed], out var statuses, out problem))
            return problem!;
        var counts = await outbox.CountByStatusAsync(projectId, OutboxKind.Karte, cancellationToken);
        var rows = await outbox.ListAsync(projectId, OutboxKind.Karte, statuses, limit, cancellationToken);
        var status = await grains.GetGrain<IKarteWriteDispatcherGrain>(GrainKeys.KarteWriteDispatcher(projectId)).GetKarteStatusAsync();
        long Count(string s) => counts.TryGetValue(s, out var n) ? n : 0;
        var body = new JsonObject
        {
            ["paused"] = status.Paused,
            ["pausedReason"] = status.PausedReason,
            ["counts"] = new JsonObject
            {
                ["pending"] = Count(OutboxStatus.Pending) + Count(OutboxStatus.InFlight),
                ["delivered"] = Count(OutboxStatus.Delivered),
                ["failed"] = Count(OutboxStatus.Failed),
            },
            ["writes"] = new JsonArray([.. rows.Select(r => (JsonNode)Render(r))]),
        };
        return TypedResults.Ok(body);
    }

    private static JsonObject Render(OutboxRow row)
    {
        var (eventName, _) = KarteWritePayload.Parse(row.Payload);
        return new JsonObject
        {
            ["id"] = row.Id,
            ["userId"] = row.UserId,
            ["eventName"] = eventName,
            // In flight is pending to the reader: it has not reached KARTE yet.
            ["status"] = row.Status == OutboxStatus.InFlight ? OutboxStatus.Pending : row.Status,
            ["attempts"] = row.Attempts,
            ["error"] = row.ErrorMessage,
            ["possibleDuplicate"] = row.PossibleDuplicate,
            ["createdAt"] = row.CreatedAt,
            ["deliveredAt"] = row.DeliveredAt,
            ["nextAttemptAt"] = row.Status == OutboxStatus.Pending ? row.NextAttemptAt : null,
        };
    }
}
