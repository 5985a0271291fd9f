using System.Net.Sockets;
using Npgsql;

namespace KarteMarketo.Grains.Storage;

/// <summary>Turns "the database is not there" into <see cref="StoreUnavailableException"/>; real SQL errors stay as they are.</summary>
internal static class PostgresCalls
{
    public static async Task<T> RunAsync<T>(Func<Task<T>> action)
    {
        try
        {
            return await action();
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            throw new StoreUnavailableException("The database is unavailable.", ex);
        }
    }

    public static Task RunAsync(Func<Task> action) => RunAsync(async () => { await action(); return true; });

    private static bool IsUnavailable(Exception ex) => ex switch
    {
        // Connection exceptions (08), operator intervention such as a shutdown (57), insufficient resources (53).
        PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal) ||
                                pg.SqlState.StartsWith("57", StringComparison.Ordinal) ||
                                pg.SqlState.StartsWith("53", StringComparison.Ordinal),
        NpgsqlException => true,
        SocketException or TimeoutException => true,
        _ => false,
    };
}
