using Npgsql;

namespace KarteMarketo.Grains.Storage;

/// <summary>
/// The connection settings a serving host adds to the operator's PostgreSQL connection string where the string does
/// not choose them itself (see <c>AppStorageOptions.RuntimeConnectionString</c>). Npgsql only, so that the
/// benchmark's storage-ceiling silo compiles this same file and measures the same settings.
/// </summary>
public static class PostgresRuntimeSettings
{
    /// <summary>Statements Npgsql prepares by itself per connection (<c>Max Auto Prepare</c>): more than the distinct
    /// statements the hot path uses (Orleans' storage, membership and reminder queries, and ours, whose multi-row forms
    /// keep one text for any row count).</summary>
    public const int AutoPreparedStatements = 64;

    /// <summary>Adds automatic preparation and <c>No Reset On Close</c> unless <paramref name="connectionString"/> sets them.</summary>
    public static string Apply(string connectionString)
    {
        // Npgsql's builder answers ContainsKey for every keyword it knows, so what the operator wrote is read apart.
        var written = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString }.Keys
            .Cast<string>().Select(k => k.Replace(" ", "", StringComparison.Ordinal)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (!written.Contains("MaxAutoPrepare")) builder.MaxAutoPrepare = AutoPreparedStatements;
        if (!written.Contains("NoResetOnClose")) builder.NoResetOnClose = true;
        return builder.ConnectionString;
    }
}
