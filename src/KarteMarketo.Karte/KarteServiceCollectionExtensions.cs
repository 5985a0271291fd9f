using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace KarteMarketo.Karte;

/// <summary>Registers the KARTE write client.</summary>
public static class KarteServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IKarteClient"/> as a typed <see cref="HttpClient"/> named <see cref="KarteClient.HttpClientName"/>
    /// (IHttpClientFactory) with <see cref="KarteClientOptions"/> from <c>Karte:Client</c>. Returns the builder so the host
    /// can add its outbound guards (size cap, address checks) to this client as to every other outbound one.
    /// </summary>
    public static IHttpClientBuilder AddKarteClient(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<KarteClientOptions>().Bind(configuration.GetSection(KarteClientOptions.SectionName));
        services.TryAddSingleton(TimeProvider.System);
        return services.AddHttpClient<IKarteClient, KarteClient>(KarteClient.HttpClientName, http =>
            {
                // The time-out is the client's own, on the injected clock.
                http.Timeout = Timeout.InfiniteTimeSpan;
            })
            // A redirect could carry the Bearer token to another host: never follow one.
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false })
            // Request loggers would write URLs and headers; the outbox logs what matters without the token.
            .RemoveAllLoggers();
    }
}
