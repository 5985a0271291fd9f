using KarteMarketo.Grains.Storage;
using KarteMarketo.MarketoSandbox;
using KarteMarketo.MarketoSandbox.Karte;

namespace KarteMarketo.Server.Apis;

public static class EmbeddedSandboxApi
{
    /// <summary>The sandbox's mount point in the embedded default: REST base <c>/sandbox/marketo/rest</c>, identity
    /// <c>/sandbox/marketo/identity</c>, control <c>/sandbox/marketo/_sandbox</c>.</summary>
    public const string Prefix = "/sandbox/marketo";

    /// <summary>The KARTE stand-in's mount point: <c>karte.endpoint</c> of the demo project, its listing at
    /// <c>/sandbox/karte/_karte/received</c>.</summary>
    public const string KartePrefix = "/sandbox/karte";

    /// <summary>Endpoints: the Marketo sandbox at /sandbox/marketo and the KARTE stand-in at /sandbox/karte, only where
    /// <c>Sandbox:Enabled</c> (by default: the embedded default under Development; see <see cref="DemoDefaults"/>).</summary>
    public static IEndpointRouteBuilder MapEmbeddedSandbox(this IEndpointRouteBuilder app)
    {
        var storage = app.ServiceProvider.GetRequiredService<AppStorageOptions>();
        if (DemoDefaults.SandboxEnabled(app.ServiceProvider.GetRequiredService<IConfiguration>(),
                app.ServiceProvider.GetRequiredService<IHostEnvironment>(), storage))
        {
            app.MapMarketoSandbox(Prefix);
            app.MapKarteStandIn(KartePrefix);
        }
        return app;
    }
}
