namespace KarteMarketo.Server.Apis;

public static class EventsApi
{
    /// <summary>Endpoints: KARTE events in.</summary>
    public static IEndpointRouteBuilder MapEventsApi(this IEndpointRouteBuilder app) => app;
}
