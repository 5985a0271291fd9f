using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace KarteMarketo.MarketoSandbox;

/// <summary>Registers the sandbox.</summary>
public static class SandboxServiceCollectionExtensions
{
    /// <summary>Registers one <see cref="SandboxState"/> (singleton) built from <see cref="SandboxOptions"/> (configure them
    /// here or through <c>services.Configure&lt;SandboxOptions&gt;</c>) on the registered <see cref="TimeProvider"/>
    /// (the system clock if none). A <see cref="SandboxState"/> registered before this call is kept.</summary>
    public static IServiceCollection AddMarketoSandbox(this IServiceCollection services, Action<SandboxOptions>? configure = null)
    {
        services.AddOptions<SandboxOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new SandboxState(sp.GetRequiredService<IOptions<SandboxOptions>>().Value, sp.GetRequiredService<TimeProvider>()));
        // The KARTE stand-in lives beside the Marketo sandbox (options: configure KarteStandInOptions, e.g. from Sandbox:Karte).
        services.AddOptions<Karte.KarteStandInOptions>();
        services.TryAddSingleton(sp => new Karte.KarteStandIn(sp.GetRequiredService<IOptions<Karte.KarteStandInOptions>>().Value, sp.GetRequiredService<TimeProvider>()));
        return services;
    }
}
