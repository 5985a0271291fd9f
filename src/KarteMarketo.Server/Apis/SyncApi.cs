using KarteMarketo.Contracts;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Flows.LeadSync;
using Microsoft.AspNetCore.Http.HttpResults;
using Orleans;

namespace KarteMarketo.Server.Apis;

public static class SyncApi
{
    /// <summary>Endpoints: sync/run and quota.</summary>
    public static IEndpointRouteBuilder MapSyncApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/projects/{projectId}").RequireAdminKey().WithTags("Sync");
        group.MapPost("/sync/run", RunSyncAsync)
            .WithSummary("Runs the periodic sync now: every email seen since the last run is looked up, 300 per Marketo call.");
        group.MapGet("/sync", GetSyncStatusAsync)
            .WithSummary("Sync status: lookup results counted by result (in total and over the last 24 hours), the last errors, and the backlog of keys waiting to be looked up again.");
        group.MapPost("/sync/resync", ResyncAsync)
            .WithSummary("Looks every known key of the project up again (after a settings change), batched and rationed; answers the keys queued and the Marketo calls they take.");
        return app;
    }

    public sealed record SyncQueued(int Queued);

    /// <summary>What <c>sync/resync</c> queued.</summary>
    public sealed record ResyncQueued(int Keys, int EstimatedCalls);

    internal static async Task<Results<Accepted<ResyncQueued>, ProblemHttpResult>> ResyncAsync(
        string projectId, HttpRequest request, IGrainFactory grains, CancellationToken cancellationToken)
    {
        var body = await JsonBody.ReadNodeAsync(request, cancellationToken);
        if (!body.IsOk) return body.Problem;
        if (body.Value is not System.Text.Json.Nodes.JsonObject json) return Problems.Validation("$", "must be a JSON object");
        var scope = json["scope"];
        if (scope is null || scope.GetValueKind() != System.Text.Json.JsonValueKind.String || (string?)scope != "all")
            return Problems.Validation("scope", "must be \"all\"");
        // The keys are stored in the backlog before the answer; its grain drains them 300 per call within the budget.
        var accepted = await grains.GetGrain<ILeadBacklogGrain>(GrainKeys.LeadBacklog(projectId)).ResyncAllAsync();
        return TypedResults.Accepted((string?)null, new ResyncQueued(accepted.Keys, accepted.EstimatedCalls));
    }

    internal static async Task<Ok<SyncStatusView>> GetSyncStatusAsync(string projectId, SyncStatusService status) =>
        TypedResults.Ok(await status.GetAsync(projectId));

    internal static async Task<Accepted<SyncQueued>> RunSyncAsync(
        string projectId, IGrainFactory grains)
    {
        // Every accepted identify is already in the queue (stored before its 202), so "now" includes them all.
        var queued = await grains.GetGrain<ISyncSchedulerGrain>(GrainKeys.SyncScheduler(projectId)).RunNowAsync();
        return TypedResults.Accepted((string?)null, new SyncQueued(queued));
    }
}
