using KarteMarketo.Grains.Storage;
using KarteMarketo.Marketo;
using KarteMarketo.MarketoSandbox;

namespace KarteMarketo.Server.Hosting;

/// <summary>The Marketo area's registrations: the REST client always, the sandbox only where Sandbox:Enabled.</summary>
public static class MarketoArea
{
    public static WebApplicationBuilder AddMarketoArea(this WebApplicationBuilder builder, AppStorageOptions storage)
    {
        builder.Services.AddMarketoClient(builder.Configuration);
        if (DemoDefaults.SandboxEnabled(builder.Configuration, builder.Environment, storage))
        {
            // The embedded default mounts a Marketo stand-in at /sandbox/marketo (see EmbeddedSandboxApi); its settings
            // (credentials, quota, token lifetime, custom fields) come from the "Sandbox" section.
            builder.Services.Configure<SandboxOptions>(builder.Configuration.GetSection("Sandbox"));
            builder.Services.Configure<MarketoSandbox.Karte.KarteStandInOptions>(builder.Configuration.GetSection("Sandbox:Karte"));
            builder.Services.AddMarketoSandbox();
        }
        return builder;
    }
}
