using KarteMarketo.Grains.Marketo;
using KarteMarketo.Grains.Quota;
using KarteMarketo.Marketo;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

public static class MarketoGatewayServiceCollectionExtensions
{
    /// <summary>Registers <see cref="IMarketoGateway"/>, the only path to Marketo, with its retry settings
    /// (<see cref="MarketoRetryOptions"/> from <c>Marketo:Client</c>) and the per-silo <see cref="MarketoUsageReconciler"/>.
    /// Needs the client registered by <see cref="MarketoServiceCollectionExtensions.AddMarketoClient"/>.</summary>
    public static IServiceCollection AddMarketoGateway(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<MarketoRetryOptions>().BindConfiguration(MarketoClientOptions.SectionName);
        services.TryAddSingleton<MarketoInstancesInUse>();
        services.TryAddSingleton<IMarketoGateway, MarketoGateway>();
        services.TryAddSingleton<MarketoUsageReconciler>();
        services.AddHostedService(sp => sp.GetRequiredService<MarketoUsageReconciler>());
        return services;
    }
}
