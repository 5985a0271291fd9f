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
        return app;
    }

    public sealed record SyncQueued(int Queued);

    internal static async Task<Accepted<SyncQueued>> RunSyncAsync(
        string projectId, IGrainFactory grains)
    {
        // Every accepted identify is already in the queue (stored before its 202), so "now" includes them all.
        var queued = await grains.GetGrain<ISyncSchedulerGrain>(GrainKeys.SyncScheduler(projectId)).RunNowAsync();
        return TypedResults.Accepted((string?)null, new SyncQueued(queued));
    }
}
