namespace KarteMarketo.Server.Apis;

public static class MarketoWebhooksApi
{
    /// <summary>Endpoints: Marketo webhooks to events.</summary>
    public static IEndpointRouteBuilder MapMarketoWebhooksApi(this IEndpointRouteBuilder app) => app;
}
