using KarteMarketo.Grains.Storage;

namespace KarteMarketo.Server.Hosting;

public static class OrleansSetup
{
    /// <summary>The co-hosted silo: localhost clustering and memory storage in the embedded default;
    /// ADO.NET clustering, storage and reminders on PostgreSQL otherwise.</summary>
    public static WebApplicationBuilder AddOrleansSilo(this WebApplicationBuilder builder, AppStorageOptions storage)
    {
        var siloPort = builder.Configuration.GetValue("Orleans:SiloPort", 11111);
        var gatewayPort = builder.Configuration.GetValue("Orleans:GatewayPort", 30000);
        var clusterId = builder.Configuration["Orleans:ClusterId"] ?? "kartemarketo";
        var serviceId = builder.Configuration["Orleans:ServiceId"] ?? "kartemarketo";
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(siloPort, gatewayPort, serviceId: serviceId, clusterId: clusterId);
            silo.AddMemoryGrainStorageAsDefault();
            silo.AddMemoryGrainStorage(StorageNames.Grains);
            silo.UseInMemoryReminderService();
            silo.UseSystemTextJsonGrainStorageSerializer();
        });
        return builder;
    }
}
