using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.Contracts;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Flows.MarketoActivities;
using KarteMarketo.Grains.Identity;
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

    /// <summary>What the endpoint uses.</summary>
    public sealed record UserEventServices(IWebhookEventStore Events, IUserStore Users, IGrainFactory Grains);

    internal static async Task<Results<Ok<JsonObject>, ProblemHttpResult>> GetAsync(
        string projectId, string userId, HttpRequest request, [AsParameters] UserEventServices services, CancellationToken cancellationToken)
    {
        if (Encoding.UTF8.GetByteCount(userId) is 0 or > OutboxHttp.MaxUserIdBytes)
            return Problems.Validation("userId", $"must be 1–{OutboxHttp.MaxUserIdBytes} bytes");
        if (!OutboxHttp.TryReadLimit(request, out var limit, out var problem)) return problem!;

        var keys = await services.Users.GetKeysAsync(projectId, userId, cancellationToken);
        var emails = keys.Where(k => k.Type == LeadKeyType.Email).Select(k => k.Value).ToList();
        var cookies = keys.Where(k => k.Type == LeadKeyType.Cookie).Select(k => k.Value).ToList();
        // Events that came with a lead id only are found through the lead ids the user's keys resolved to.
        var views = await Task.WhenAll(keys.Select(k =>
            services.Grains.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(projectId, k.Type, k.Value)).GetAsync()));
        var leadIds = views.Select(v => v.LeadId).OfType<long>().Distinct().ToList();

        var events = await services.Events.ListForUserAsync(projectId, userId, new UserEventKeys(emails, cookies, leadIds), limit,
            cancellationToken);
        if (events.Count == 0 && keys.Count == 0 && !await services.Users.ExistsAsync(projectId, userId, cancellationToken))
            return Problems.NotFound($"User '{userId}' has never been seen in project '{projectId}'.");

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
