namespace KarteMarketo.Server.Apis;

public static class LeadsApi
{
    /// <summary>Endpoints: lead upserts.</summary>
    public static IEndpointRouteBuilder MapLeadsApi(this IEndpointRouteBuilder app) => app;
}
