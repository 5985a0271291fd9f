using KarteMarketo.Grains.Storage;

namespace KarteMarketo.Server.Hosting;

public static class DatabaseCommands
{
    /// <summary>The <c>migrate</c> verb: applies pending <c>db/</c> migrations and exits (0 on success, 1 on failure).</summary>
    public static async Task<int> MigrateAsync(IConfiguration configuration)
    {
        using var loggerFactory = LoggerFactory.Create(logging => logging.AddSimpleConsole(o => o.SingleLine = true));
        var logger = loggerFactory.CreateLogger("KarteMarketo.Migrate");
        var storage = AppStorageOptions.From(configuration);
        if (!storage.UsesPostgres)
        {
            logger.LogError("migrate needs ConnectionStrings:Postgres (env ConnectionStrings__Postgres)");
            return 1;
        }

        try
        {
            var migrator = new DatabaseMigrator(storage.PostgresConnectionString!, loggerFactory.CreateLogger<DatabaseMigrator>());
            var result = await migrator.MigrateAsync();
            logger.LogInformation("migrate: {Applied} applied, {Before} already applied", result.Applied.Count, result.AlreadyApplied);
            return 0;
        }
        catch (Exception ex)
        {
            // The exception text carries no password: Npgsql never puts it in messages.
            logger.LogError(ex, "migrate failed");
            return 1;
        }
    }
}
