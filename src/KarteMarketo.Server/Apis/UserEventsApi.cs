using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.Grains.Flows.MarketoActivities;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace KarteMarketo.Server.Apis;

public static class UserEventsApi
{
    /// <summary>Endpoints: the events recorded for a user from Marketo webhooks (admin).</summary>
    public static IEndpointRouteBuilder MapUserEventsApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/v1/projects/{projectId}/users/{userId}/events").RequireAdminKey().WithTags("Users")
            .MapGet("", GetAsync)
            .WithSummary("Events recorded for the user from Marketo webhooks, newest first (also those kept against its keys before it linked).");
        return app;
    }

    internal static async Task<Results<Ok<JsonObject>, ProblemHttpResult>> GetAsync(
        string projectId, string userId, HttpRequest request, MarketoActivityFlow flow, CancellationToken cancellationToken)
    {
        if (Encoding.UTF8.GetByteCount(userId) is 0 or > OutboxHttp.MaxUserIdBytes)
            return Problems.Validation("userId", $"must be 1–{OutboxHttp.MaxUserIdBytes} bytes");
        if (!OutboxHttp.TryReadLimit(request, out var limit, out var problem)) return problem!;

        var events = await flow.ListForUserAsync(projectId, userId, limit, cancellationToken);
        if (events is null) return Problems.NotFound($"User '{userId}' has never been seen in project '{projectId}'.");

        return TypedResults.Ok(new JsonObject
        {
            ["events"] = new JsonArray([.. events.Select(e => (JsonNode)new JsonObject
            {
                ["event_name"] = e.EventName,
                ["values"] = e.Values.DeepClone(),
                ["receivedAt"] = e.ReceivedAt,
                ["occurredAt"] = e.OccurredAt,
            })]),
        });
    }
}
