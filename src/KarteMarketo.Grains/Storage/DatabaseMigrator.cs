using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace KarteMarketo.Grains.Storage;

/// <summary>One numbered SQL file from <c>db/migrations/</c>, e.g. <c>0003_orleans_storage.sql</c>.</summary>
public sealed record Migration(int Version, string Name, string Sql)
{
    /// <summary>SHA-256 of the file text (hex): an applied migration must never change afterwards.</summary>
    /// <remarks>Computed from <see cref="Sql"/> on each read, so a copy made with <c>with</c> stays truthful.</remarks>
    public string Checksum => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Sql)));
}

/// <summary>What one migrator run did.</summary>
public sealed record MigrationResult(IReadOnlyList<Migration> Applied, int AlreadyApplied);

/// <summary>
/// Applies the embedded <c>db/migrations/*.sql</c> files in version order, each in its own transaction, and records
/// them in <c>schema_migrations</c>. A session advisory lock makes hosts that start together take turns, so only the
/// first applies anything and the others find nothing left to do. Running it again changes nothing.
/// </summary>
public sealed partial class DatabaseMigrator(string connectionString, ILogger<DatabaseMigrator>? logger = null)
{
    /// <summary>Arbitrary but fixed: the advisory lock id that serialises migrator runs on one database.</summary>
    public const long AdvisoryLockId = 0x4B4D_4D49_4752_4154; // "KMMIGRAT"

    private const string ResourcePrefix = "db/migrations/";

    private readonly ILogger logger = logger ?? NullLogger<DatabaseMigrator>.Instance;

    [GeneratedRegex(@"^(?<version>\d{4})_(?<name>[a-z0-9_]+)\.sql$")]
    private static partial Regex FileNamePattern();

    /// <summary>Every migration embedded in this assembly, ordered by version. Throws on a malformed name or a
    /// duplicate version: both are build mistakes that must not reach a database.</summary>
    public static IReadOnlyList<Migration> LoadEmbedded()
    {
        var assembly = typeof(DatabaseMigrator).Assembly;
        var migrations = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            var normalized = resource.Replace('\\', '/');
            if (!normalized.StartsWith(ResourcePrefix, StringComparison.Ordinal)) continue;
            var fileName = normalized[ResourcePrefix.Length..];
            var match = FileNamePattern().Match(fileName);
            if (!match.Success)
                throw new InvalidOperationException($"Migration file name '{fileName}' must look like 0001_some_name.sql.");
            migrations.Add(new Migration(
                int.Parse(match.Groups["version"].Value, System.Globalization.CultureInfo.InvariantCulture),
                fileName[..^".sql".Length],
                ReadResource(assembly, resource)));
        }

        var duplicate = migrations.GroupBy(m => m.Version).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new InvalidOperationException(
                $"Two migrations share version {duplicate.Key}: {string.Join(", ", duplicate.Select(m => m.Name))}.");
        return migrations.OrderBy(m => m.Version).ToList();
    }

    /// <summary>Applies the pending embedded migrations.</summary>
    public Task<MigrationResult> MigrateAsync(CancellationToken cancellationToken = default) =>
        MigrateAsync(LoadEmbedded(), cancellationToken);

    /// <summary>Applies the pending ones of <paramref name="migrations"/>, in version order.</summary>
    public async Task<MigrationResult> MigrateAsync(IReadOnlyList<Migration> migrations, CancellationToken cancellationToken = default)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);

        // A session lock (not a transaction lock): it must span several transactions, one per migration.
        await ExecuteAsync(connection, null, $"SELECT pg_advisory_lock({AdvisoryLockId})", cancellationToken);
        try
        {
            await ExecuteAsync(connection, null, """
                CREATE TABLE IF NOT EXISTS schema_migrations
                (
                    version    integer     NOT NULL PRIMARY KEY,
                    name       text        NOT NULL,
                    checksum   text        NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, cancellationToken);

            var applied = await ReadAppliedAsync(connection, cancellationToken);
            foreach (var migration in migrations)
            {
                if (applied.TryGetValue(migration.Version, out var recorded) && recorded.Checksum != migration.Checksum)
                    throw new InvalidOperationException(
                        $"Migration {migration.Name} was changed after it was applied (checksum {recorded.Checksum} in the " +
                        $"database, {migration.Checksum} now). Applied migrations are immutable: add a new one instead.");
            }

            var done = new List<Migration>();
            foreach (var migration in migrations.Where(m => !applied.ContainsKey(m.Version)).OrderBy(m => m.Version))
            {
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                await ExecuteAsync(connection, transaction, migration.Sql, cancellationToken);
                await using (var record = new NpgsqlCommand(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (@version, @name, @checksum)",
                    connection, transaction))
                {
                    record.Parameters.AddWithValue("version", migration.Version);
                    record.Parameters.AddWithValue("name", migration.Name);
                    record.Parameters.AddWithValue("checksum", migration.Checksum);
                    await record.ExecuteNonQueryAsync(cancellationToken);
                }
                await transaction.CommitAsync(cancellationToken);
                LogApplied(migration.Name);
                done.Add(migration);
            }

            LogDone(done.Count, applied.Count);
            return new MigrationResult(done, applied.Count);
        }
        finally
        {
            // Closing the connection would release it too, but pooled connections are not really closed.
            await ExecuteAsync(connection, null, $"SELECT pg_advisory_unlock({AdvisoryLockId})", CancellationToken.None);
        }
    }

    private static async Task<Dictionary<int, (string Name, string Checksum)>> ReadAppliedAsync(
        NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var applied = new Dictionary<int, (string, string)>();
        await using var command = new NpgsqlCommand("SELECT version, name, checksum FROM schema_migrations", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            applied[reader.GetInt32(0)] = (reader.GetString(1), reader.GetString(2));
        return applied;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction) { CommandTimeout = 300 };
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static string ReadResource(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Embedded resource {name} is missing.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied migration {Name}")]
    private partial void LogApplied(string name);

    [LoggerMessage(Level = LogLevel.Information, Message = "Database schema is up to date: {Applied} migration(s) applied now, {Before} before")]
    private partial void LogDone(int applied, int before);
}
