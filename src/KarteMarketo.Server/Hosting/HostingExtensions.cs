using KarteMarketo.Grains.Storage;
using KarteMarketo.Server.Secrets;

namespace KarteMarketo.Server.Hosting;

/// <summary>Everything the host registers, area by area; <c>Program.cs</c> stays thin.</summary>
public static class HostingExtensions
{
    public static WebApplicationBuilder AddKarteMarketoHost(this WebApplicationBuilder builder)
    {
        var storage = AppStorageOptions.From(builder.Configuration);
        builder.Services.AddAppStorage(storage);
        builder.Services.AddSingleton(TimeProvider.System);

        builder.AddOrleansSilo(storage);
        builder.AddSecretsAtRest(storage);
        builder.AddFrontDoor();
        builder.AddAreaServices(storage);
        return builder;
    }
}
