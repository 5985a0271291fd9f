using KarteMarketo.Grains.Storage;

namespace KarteMarketo.IntegrationTests.Infrastructure;

/// <summary>A fresh database with every migration applied, shared by the tests of one class
/// (<c>IClassFixture&lt;MigratedDatabaseFixture&gt;</c>); dropped after the class.</summary>
public sealed class MigratedDatabaseFixture : IAsyncLifetime
{
    public TestDatabase Database { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Database = await TestPostgres.CreateDatabaseAsync();
        await new DatabaseMigrator(Database.ConnectionString).MigrateAsync();
    }

    public async Task DisposeAsync() => await Database.DisposeAsync();
}
