using KarteMarketo.Grains.Marketo;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

public static class MarketoGatewayServiceCollectionExtensions
{
    /// <summary>Registers <see cref="IMarketoGateway"/>, the only path from grains to Marketo. Needs an
    /// <see cref="KarteMarketo.Marketo.IMarketoClient"/> registered by the client's own extension.</summary>
    public static IServiceCollection AddMarketoGateway(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IMarketoGateway, MarketoGateway>();
        return services;
    }
}
