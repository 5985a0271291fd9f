using KarteMarketo.Grains.Storage;

namespace KarteMarketo.Server.Hosting;

/// <summary>
/// Applies pending migrations when the host starts (PostgreSQL mode, <c>Database:MigrateOnStart</c>, default true).
/// It works in <see cref="IHostedLifecycleService.StartingAsync"/>, which the host runs for every hosted service before
/// any <c>StartAsync</c>, so the schema and the <c>orleansquery</c> rows exist before the silo's ADO.NET providers
/// read them. The migrator's advisory lock lets several hosts start against one database at once.
/// </summary>
internal sealed class DatabaseMigrationService(AppStorageOptions storage, ILogger<DatabaseMigrator> logger) : IHostedLifecycleService
{
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        await new DatabaseMigrator(storage.PostgresConnectionString!, logger).MigrateAsync(cancellationToken);
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
