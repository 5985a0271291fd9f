using KarteMarketo.Grains.Projects;
using KarteMarketo.Server.Settings;

// In the Hosting namespace (imported everywhere in the server) so AreaServices needs no extra using.
namespace KarteMarketo.Server.Hosting;

public static class SettingsServiceCollectionExtensions
{
    /// <summary>Project settings: the per-silo project directory (auth and settings cache), the validator and the
    /// Marketo credential check.</summary>
    public static IServiceCollection AddProjectSettings(this IServiceCollection services)
    {
        services.AddProjectDirectory();
        services.AddSingleton(sp => SettingsValidationOptions.From(
            sp.GetRequiredService<IConfiguration>(), sp.GetRequiredService<IHostEnvironment>()));
        services.AddSingleton<SettingsValidator>();
        services.AddSingleton<MarketoConnectionCheck>();
        services.AddSingleton<KarteConnectionCheck>();
        services.AddSingleton<ProjectSettingsService>();
        return services;
    }
}
