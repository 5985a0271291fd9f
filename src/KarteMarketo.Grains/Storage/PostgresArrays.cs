using Npgsql;
using NpgsqlTypes;

namespace KarteMarketo.Grains.Storage;

/// <summary>Array parameters for the multi-row statements (<c>unnest(@p, @u, ...)</c>, <c>= ANY(@ids)</c>).</summary>
internal static class PostgresArrays
{
    /// <summary>A parameter <paramref name="name"/> holding <paramref name="values"/> as a PostgreSQL array of <paramref name="element"/>.</summary>
    public static NpgsqlParameter Of(string name, NpgsqlDbType element, Array values) =>
        new(name, NpgsqlDbType.Array | element) { Value = values };
}
