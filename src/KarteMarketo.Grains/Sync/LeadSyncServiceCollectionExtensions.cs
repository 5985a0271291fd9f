using KarteMarketo.Grains.Storage;
using KarteMarketo.Grains.Users;
using Microsoft.Extensions.DependencyInjection;

namespace KarteMarketo.Grains.Sync;

public static class LeadSyncServiceCollectionExtensions
{
    /// <summary>The lead sync's services: the user store of the storage mode, the per-silo field catalog, lookup executor
    /// and identify-email collector. Needs the gateway (<c>IMarketoGateway</c>) and the project directory, which their
    /// own areas register.</summary>
    public static IServiceCollection AddLeadSync(this IServiceCollection services, AppStorageOptions storage)
    {
        if (storage.UsesPostgres) services.AddSingleton<IUserStore, PostgresUserStore>();
        else services.AddSingleton<IUserStore, InMemoryUserStore>();

        services.AddSingleton<LeadFieldCatalog>();
        services.AddSingleton<LeadLookupExecutor>();
        services.AddSingleton<IdentifyEmailCollector>();
        services.AddHostedService(sp => sp.GetRequiredService<IdentifyEmailCollector>());
        return services;
    }
}
