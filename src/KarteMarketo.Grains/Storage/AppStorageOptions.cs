using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace KarteMarketo.Grains.Storage;

/// <summary>
/// Which of the two modes the host runs in, chosen by configuration alone: with
/// <c>ConnectionStrings:Postgres</c> everything persists in PostgreSQL; without it, the embedded default keeps
/// everything in memory.
/// </summary>
public sealed record AppStorageOptions(string? PostgresConnectionString)
{
    public bool UsesPostgres => !string.IsNullOrWhiteSpace(PostgresConnectionString);

    /// <summary>The connection string of everything that runs while the host serves (grain storage, membership,
    /// reminders, the app's stores); the migrator keeps <see cref="PostgresConnectionString"/> as given.
    /// <para>Two settings are added where the string does not choose them itself (<see cref="PostgresRuntimeSettings"/>).
    /// Automatic preparation: the same few statements run thousands of times a second, and unprepared each is parsed
    /// and planned again (prepared, grain-state writes doubled on the benchmark machine). <c>No Reset On Close</c>: a
    /// pooled connection is not reset for its next user; nothing at run time keeps session state (only
    /// <c>SET LOCAL</c>, which ends with its transaction; the migrator's session advisory lock uses the untouched
    /// string).</para></summary>
    public string? RuntimeConnectionString => UsesPostgres ? PostgresRuntimeSettings.Apply(PostgresConnectionString!) : null;

    public static AppStorageOptions From(IConfiguration configuration) =>
        new(configuration.GetConnectionString("Postgres"));
}

public static class AppStorageServiceCollectionExtensions
{
    /// <summary>Registers <see cref="AppStorageOptions"/> and, in PostgreSQL mode, one shared <see cref="NpgsqlDataSource"/>.</summary>
    public static IServiceCollection AddAppStorage(this IServiceCollection services, AppStorageOptions options)
    {
        services.AddSingleton(options);
        if (options.UsesPostgres)
        {
            services.AddSingleton(_ => NpgsqlDataSource.Create(options.RuntimeConnectionString!));
        }
        return services;
    }
}
