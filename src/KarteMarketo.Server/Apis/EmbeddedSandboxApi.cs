namespace KarteMarketo.Server.Apis;

public static class EmbeddedSandboxApi
{
    /// <summary>Endpoints: the Marketo sandbox at /sandbox/marketo in the embedded default.</summary>
    public static IEndpointRouteBuilder MapEmbeddedSandbox(this IEndpointRouteBuilder app) => app;
}
