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
            services.AddSingleton(_ => NpgsqlDataSource.Create(options.PostgresConnectionString!));
        }
        return services;
    }
}
