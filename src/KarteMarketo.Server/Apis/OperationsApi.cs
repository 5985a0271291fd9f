namespace KarteMarketo.Server.Apis;

public static class OperationsApi
{
    /// <summary>Endpoints: health, metrics, openapi, dashboard.</summary>
    public static IEndpointRouteBuilder MapOperationsApi(this IEndpointRouteBuilder app) => app;
}
