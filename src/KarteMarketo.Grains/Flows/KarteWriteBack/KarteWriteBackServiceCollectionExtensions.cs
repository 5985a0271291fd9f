using KarteMarketo.Grains.Storage;
using KarteMarketo.Karte;
using KarteMarketo.Marketo.Outbound;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace KarteMarketo.Grains.Flows.KarteWriteBack;

public static class KarteWriteBackServiceCollectionExtensions
{
    /// <summary>The KARTE write-back: the write client (section <c>Karte:Client</c>), the queue of the storage mode, the
    /// dispatcher's options (section <c>Karte:Writes</c>) and <see cref="KarteWriteBackService"/>. Returns the client's
    /// <see cref="IHttpClientBuilder"/> so the host can add its outbound guards to it.</summary>
    public static IHttpClientBuilder AddKarteWriteBack(this IServiceCollection services, IConfiguration configuration, AppStorageOptions storage)
    {
        services.AddOptions<KarteWriteOptions>().BindConfiguration(KarteWriteOptions.SectionName);
        if (storage.UsesPostgres) services.AddSingleton<IKarteWriteQueue, PostgresKarteWriteQueue>();
        else services.AddSingleton<IKarteWriteQueue, InMemoryKarteWriteQueue>();
        services.AddSingleton<KarteWriteBackService>();
        // The host's outbound guard, as for every call to a project-configured URL: no redirects, private addresses
        // refused after DNS (unless Outbound:AllowPrivateAddresses), answers over 16 MiB cut off.
        return services.AddKarteClient(configuration).AddOutboundGuard();
    }
}
