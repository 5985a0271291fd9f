using Npgsql;

namespace KarteMarketo.IntegrationTests.Infrastructure;

/// <summary>
/// The PostgreSQL server the integration tests use: <c>KARTEMARKETO_TEST_POSTGRES</c> (a connection string, e.g. from
/// <c>bash db/dev-postgres.sh</c>). Tests fail, never skip, when it is missing. Each test class creates its own fresh
/// database on that server (<see cref="CreateDatabaseAsync"/>), so classes never see each other's data.
/// </summary>
public static class TestPostgres
{
    public const string EnvironmentVariable = "KARTEMARKETO_TEST_POSTGRES";

    /// <summary>The configured server's connection string; throws a clear message when unset.</summary>
    public static string ServerConnectionString
    {
        get
        {
            var value = Environment.GetEnvironmentVariable(EnvironmentVariable);
            if (string.IsNullOrWhiteSpace(value))
                throw new InvalidOperationException(
                    $"{EnvironmentVariable} is not set. The integration tests need a PostgreSQL 15 server: run " +
                    "`eval \"$(bash db/dev-postgres.sh)\"` (or `bash .ci/run`), or set it to a connection string of a " +
                    "role that may CREATE DATABASE.");
            return value;
        }
    }

    /// <summary>Creates an empty database <c>km_&lt;guid&gt;</c> and returns a handle that drops it on dispose.</summary>
    public static async Task<TestDatabase> CreateDatabaseAsync()
    {
        var name = "km_" + Guid.NewGuid().ToString("N");
        await using (var connection = new NpgsqlConnection(ServerConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync();
        }
        var builder = new NpgsqlConnectionStringBuilder(ServerConnectionString) { Database = name };
        return new TestDatabase(name, builder.ConnectionString);
    }
}

/// <summary>A database created for one test class.</summary>
public sealed class TestDatabase(string name, string connectionString) : IAsyncDisposable
{
    public string Name { get; } = name;
    public string ConnectionString { get; } = connectionString;

    public NpgsqlConnection OpenConnection()
    {
        var connection = new NpgsqlConnection(ConnectionString);
        connection.Open();
        return connection;
    }

    /// <summary>Runs a scalar query (test assertions on tables).</summary>
    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync();
        return (T)Convert.ChangeType(value!, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(TestPostgres.ServerConnectionString);
        await connection.OpenAsync();
        // FORCE: a killed host process may leave connections behind for a moment.
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }
}
