using KarteMarketo.Grains.Background;
using KarteMarketo.Grains.Storage;
using KarteMarketo.Grains.Identity;
using Microsoft.Extensions.DependencyInjection;

namespace KarteMarketo.Grains.Flows.LeadSync;

public static class LeadSyncServiceCollectionExtensions
{
    /// <summary>The lead sync's services: the user store, pending-lookup journal and periodic-sync queue of the storage mode, the per-silo
    /// field catalog, lookup executor, periodic-sync queue and intake, the identify intake and user-info reads of the front door, and the recovery of lost lookups (options section
    /// <c>LeadSync</c>). Needs the gateway (<c>IMarketoGateway</c>) and the project directory, which their own areas
    /// register.</summary>
    public static IServiceCollection AddLeadSync(this IServiceCollection services, AppStorageOptions storage)
    {
        services.AddOptions<LeadSyncOptions>().BindConfiguration("LeadSync");
        if (storage.UsesPostgres)
        {
            services.AddSingleton<IUserStore, PostgresUserStore>();
            services.AddSingleton<IPendingLookupJournal, PostgresPendingLookupJournal>();
            services.AddSingleton<IPeriodicSyncQueue, PostgresPeriodicSyncQueue>();
            services.AddSingleton<ILeadKeyBacklog, PostgresLeadKeyBacklog>();
        }
        else
        {
            services.AddSingleton<IUserStore, InMemoryUserStore>();
            services.AddSingleton<IPendingLookupJournal, InMemoryPendingLookupJournal>();
            services.AddSingleton<IPeriodicSyncQueue, InMemoryPeriodicSyncQueue>();
            services.AddSingleton<ILeadKeyBacklog, InMemoryLeadKeyBacklog>();
        }

        services.AddSingleton<LeadFieldCatalog>();
        services.AddSingleton<LeadLookupExecutor>();
        services.AddSingleton<SyncStatusService>();
        services.AddSingleton<PeriodicSyncIntake>();
        services.AddSingleton<IdentifyIntake>();
        services.AddSingleton<UserInfoService>();
        services.AddSingleton<IdentifyShortcuts>();
        services.AddSingleton<PendingLookupRecovery>();
        services.AddHostedService(sp => sp.GetRequiredService<PendingLookupRecovery>());
        services.AddSingleton<IDeadSiloTakeover>(sp => sp.GetRequiredService<PendingLookupRecovery>());
        return services;
    }
}
