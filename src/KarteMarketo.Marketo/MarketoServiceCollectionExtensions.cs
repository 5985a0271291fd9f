using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using KarteMarketo.Marketo.Outbound;

namespace KarteMarketo.Marketo;

/// <summary>Registers the Marketo REST client.</summary>
public static class MarketoServiceCollectionExtensions
{
    /// <summary>The name of the client's <see cref="HttpClient"/> in IHttpClientFactory (that of the typed client).</summary>
    public const string HttpClientName = nameof(IMarketoClient);

    /// <summary>
    /// Registers <see cref="IMarketoClient"/> as a typed <see cref="HttpClient"/> (IHttpClientFactory), the shared
    /// <see cref="MarketoTokenCache"/>, the <see cref="MarketoClientFactory"/> the gateway takes a client from per attempt,
    /// and <see cref="MarketoClientOptions"/> from <c>Marketo:Client</c>.
    /// </summary>
    public static IServiceCollection AddMarketoClient(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<MarketoClientOptions>().Bind(configuration.GetSection(MarketoClientOptions.SectionName));
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<MarketoTokenCache>();
        services.TryAddSingleton<MarketoClientFactory>();
        services.AddHttpClient<IMarketoClient, MarketoClient>(http =>
            {
                // Time-outs are per endpoint and per attempt, set by the client itself on the injected clock.
                http.Timeout = Timeout.InfiniteTimeSpan;
            })
            // The identity URI carries the client secret as a query parameter (as the spec declares it); the default
            // request loggers would write that URI, so they are removed and the client logs without secrets itself.
            .RemoveAllLoggers()
            // No redirects, no private addresses (unless Outbound:AllowPrivateAddresses), bodies at most 16 MiB.
            .AddOutboundGuard();
        return services;
    }
}
