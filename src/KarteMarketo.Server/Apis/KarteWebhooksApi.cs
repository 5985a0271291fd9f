namespace KarteMarketo.Server.Apis;

public static class KarteWebhooksApi
{
    /// <summary>Endpoints: KARTE webhooks to custom activities.</summary>
    public static IEndpointRouteBuilder MapKarteWebhooksApi(this IEndpointRouteBuilder app) => app;
}
