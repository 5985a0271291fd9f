using KarteMarketo.Grains.Storage;
using KarteMarketo.IntegrationTests.Infrastructure;
using Npgsql;

namespace KarteMarketo.IntegrationTests.Database;

/// <summary>The migrator and the <c>migrate</c> verb on fresh databases.</summary>
public sealed class MigrationTests
{
    [Fact]
    public async Task Running_twice_applies_everything_once_and_then_changes_nothing()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        var migrator = new DatabaseMigrator(db.ConnectionString);
        var embedded = DatabaseMigrator.LoadEmbedded();

        var first = await migrator.MigrateAsync();
        Assert.Equal(embedded.Select(m => m.Name), first.Applied.Select(m => m.Name));
        Assert.Equal(0, first.AlreadyApplied);
        var schemaAfterFirst = await SchemaFingerprintAsync(db);

        var second = await migrator.MigrateAsync();
        Assert.Empty(second.Applied);
        Assert.Equal(embedded.Count, second.AlreadyApplied);
        Assert.Equal(schemaAfterFirst, await SchemaFingerprintAsync(db));
    }

    [Fact]
    public async Task Orleans_query_keys_needed_by_the_10_4_2_providers_are_all_present()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        await new DatabaseMigrator(db.ConnectionString).MigrateAsync();

        string[] required =
        [
            // clustering (9 required + the per-row cleanup)
            "UpdateIAmAlivetimeKey", "InsertMembershipVersionKey", "InsertMembershipKey", "UpdateMembershipKey",
            "MembershipReadRowKey", "MembershipReadAllKey", "DeleteMembershipTableEntriesKey", "GatewaysQueryKey",
            "CleanupDefunctSiloEntriesKey", "CleanupDefunctSiloEntryKey",
            // storage
            "WriteToStorageKey", "ReadFromStorageKey", "ClearStorageKey", "DeleteStorageKey",
            // reminders
            "UpsertReminderRowKey", "ReadReminderRowsKey", "ReadReminderRowKey", "ReadRangeRows1Key",
            "ReadRangeRows2Key", "DeleteReminderRowKey", "DeleteReminderRowsKey",
        ];
        await using var connection = db.OpenConnection();
        await using var command = new NpgsqlCommand("SELECT querykey FROM orleansquery", connection);
        var present = new HashSet<string>(StringComparer.Ordinal);
        await using (var reader = await command.ExecuteReaderAsync())
            while (await reader.ReadAsync()) present.Add(reader.GetString(0));
        var missing = required.Where(k => !present.Contains(k)).ToList();
        Assert.True(missing.Count == 0, "missing query keys: " + string.Join(", ", missing));
    }

    [Fact]
    public async Task Hosts_starting_together_apply_each_migration_once()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        // Several migrators at once, as when three hosts start against a new database: the advisory lock queues
        // them, the first applies everything, the others find nothing left.
        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => new DatabaseMigrator(db.ConnectionString).MigrateAsync())));

        var embedded = DatabaseMigrator.LoadEmbedded();
        Assert.Equal(embedded.Count, results.Sum(r => r.Applied.Count));
        Assert.Single(results, r => r.Applied.Count == embedded.Count);
        Assert.Equal(embedded.Count, await db.ScalarAsync<int>("SELECT count(*) FROM schema_migrations"));
    }

    [Fact]
    public async Task A_changed_applied_migration_is_refused()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        var embedded = DatabaseMigrator.LoadEmbedded();
        await new DatabaseMigrator(db.ConnectionString).MigrateAsync(embedded);

        var tampered = embedded.Select((m, i) => i == 0 ? m with { Sql = m.Sql + "\n-- edited" } : m).ToList();
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => new DatabaseMigrator(db.ConnectionString).MigrateAsync(tampered));
        Assert.Contains(embedded[0].Name, error.Message);
    }

    [Fact]
    public async Task A_failing_migration_rolls_back_and_stops_there()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        var migrations = new List<Migration>
        {
            new(9001, "9001_good", "CREATE TABLE good_one (id int);"),
            new(9002, "9002_bad", "CREATE TABLE half_done (id int); SELECT no_such_function();"),
            new(9003, "9003_after", "CREATE TABLE after_bad (id int);"),
        };

        await Assert.ThrowsAsync<PostgresException>(() => new DatabaseMigrator(db.ConnectionString).MigrateAsync(migrations));

        Assert.Equal(1, await db.ScalarAsync<int>("SELECT count(*) FROM schema_migrations"));
        Assert.Equal(0, await db.ScalarAsync<int>("SELECT count(*) FROM pg_tables WHERE tablename IN ('half_done', 'after_bad')"));
        Assert.Equal(1, await db.ScalarAsync<int>("SELECT count(*) FROM pg_tables WHERE tablename = 'good_one'"));
    }

    [Fact]
    public async Task The_migrate_verb_exits_0_and_a_second_run_applies_nothing()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        var options = new HostOptions { PostgresConnectionString = db.ConnectionString };

        var (first, firstOutput) = await HostProcess.RunVerbAsync(options, "migrate");
        Assert.True(first == 0, firstOutput);
        var fingerprint = await SchemaFingerprintAsync(db);
        Assert.Equal(DatabaseMigrator.LoadEmbedded().Count, await db.ScalarAsync<int>("SELECT count(*) FROM schema_migrations"));

        var (second, secondOutput) = await HostProcess.RunVerbAsync(options, "migrate");
        Assert.True(second == 0, secondOutput);
        Assert.Contains("0 applied", secondOutput);
        Assert.Equal(fingerprint, await SchemaFingerprintAsync(db));
    }

    [Fact]
    public async Task The_migrate_verb_exits_1_without_a_database()
    {
        var (code, output) = await HostProcess.RunVerbAsync(new HostOptions { PostgresConnectionString = null }, "migrate");
        Assert.True(code == 1, output);
        Assert.Contains("ConnectionStrings", output);
    }

    /// <summary>Tables, columns, indexes, functions and row counts of the public schema, as one comparable text.</summary>
    private static async Task<string> SchemaFingerprintAsync(TestDatabase db)
    {
        await using var connection = db.OpenConnection();
        var lines = new List<string>();
        async Task AddAsync(string sql)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
                lines.Add(string.Join('|', Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "∅" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
        }
        await AddAsync("""
            SELECT table_name, column_name, data_type, is_nullable, coalesce(column_default, '')
              FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2
            """);
        await AddAsync("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1");
        await AddAsync("""
            SELECT p.proname, md5(p.prosrc) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public' ORDER BY 1
            """);
        await AddAsync("SELECT querykey, md5(querytext) FROM orleansquery ORDER BY 1");
        await AddAsync("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY 1");

        // Row counts of every table.
        var tables = new List<string>();
        await using (var command = new NpgsqlCommand("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", connection))
        await using (var reader = await command.ExecuteReaderAsync())
            while (await reader.ReadAsync()) tables.Add(reader.GetString(0));
        foreach (var table in tables)
            await AddAsync($"SELECT '{table}', count(*) FROM \"{table}\"");
        return string.Join('\n', lines);
    }
}
