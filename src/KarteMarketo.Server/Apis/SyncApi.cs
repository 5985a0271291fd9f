namespace KarteMarketo.Server.Apis;

public static class SyncApi
{
    /// <summary>Endpoints: sync/run and quota.</summary>
    public static IEndpointRouteBuilder MapSyncApi(this IEndpointRouteBuilder app) => app;
}
