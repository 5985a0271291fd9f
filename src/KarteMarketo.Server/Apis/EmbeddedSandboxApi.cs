using KarteMarketo.Grains.Storage;
using KarteMarketo.MarketoSandbox;

namespace KarteMarketo.Server.Apis;

public static class EmbeddedSandboxApi
{
    /// <summary>The sandbox's mount point in the embedded default: REST base <c>/sandbox/marketo/rest</c>, identity
    /// <c>/sandbox/marketo/identity</c>, control <c>/sandbox/marketo/_sandbox</c>.</summary>
    public const string Prefix = "/sandbox/marketo";

    /// <summary>Endpoints: the Marketo sandbox at /sandbox/marketo, only where <c>Sandbox:Enabled</c> (by default: the
    /// embedded default under Development; see <see cref="DemoDefaults"/>).</summary>
    public static IEndpointRouteBuilder MapEmbeddedSandbox(this IEndpointRouteBuilder app)
    {
        var storage = app.ServiceProvider.GetRequiredService<AppStorageOptions>();
        if (DemoDefaults.SandboxEnabled(app.ServiceProvider.GetRequiredService<IConfiguration>(),
                app.ServiceProvider.GetRequiredService<IHostEnvironment>(), storage))
        {
            app.MapMarketoSandbox(Prefix);
        }
        return app;
    }
}
