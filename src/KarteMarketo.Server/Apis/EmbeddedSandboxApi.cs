using KarteMarketo.Grains.Storage;
using KarteMarketo.MarketoSandbox;

namespace KarteMarketo.Server.Apis;

public static class EmbeddedSandboxApi
{
    /// <summary>The sandbox's mount point in the embedded default: REST base <c>/sandbox/marketo/rest</c>, identity
    /// <c>/sandbox/marketo/identity</c>, control <c>/sandbox/marketo/_sandbox</c>.</summary>
    public const string Prefix = "/sandbox/marketo";

    /// <summary>Endpoints: the Marketo sandbox at /sandbox/marketo, only in the embedded default (no ConnectionStrings:Postgres).</summary>
    public static IEndpointRouteBuilder MapEmbeddedSandbox(this IEndpointRouteBuilder app)
    {
        var storage = app.ServiceProvider.GetRequiredService<AppStorageOptions>();
        if (!storage.UsesPostgres)
        {
            app.MapMarketoSandbox(Prefix);
        }
        return app;
    }
}
