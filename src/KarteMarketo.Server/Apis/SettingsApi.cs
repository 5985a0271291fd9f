namespace KarteMarketo.Server.Apis;

public static class SettingsApi
{
    /// <summary>Endpoints: project settings and keys.</summary>
    public static IEndpointRouteBuilder MapSettingsApi(this IEndpointRouteBuilder app) => app;
}
