using System.Data;
using KarteMarketo.IntegrationTests.Infrastructure;
using Npgsql;

namespace KarteMarketo.IntegrationTests.Database;

/// <summary>
/// Our own Orleans SQL (db/migrations/0002-0004) against the provider contract, at the edges a running silo rarely
/// reaches: concurrent first writes, stale ETags, concurrent membership writes, ring ranges that wrap. The query texts
/// are read from <c>orleansquery</c> and run with parameters typed the way the 10.4.2 providers type them.
/// </summary>
/// One database for the class; each test uses its own keys, cluster id or service id.
public sealed class OrleansQueryContractTests(MigratedDatabaseFixture fixture) : IClassFixture<MigratedDatabaseFixture>, IAsyncLifetime
{
    private readonly TestDatabase db = fixture.Database;
    private Dictionary<string, string> queries = null!;

    public async Task InitializeAsync()
    {
        queries = [];
        await using var connection = db.OpenConnection();
        await using var command = new NpgsqlCommand("SELECT querykey, querytext FROM orleansquery", connection);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) queries[reader.GetString(0)] = reader.GetString(1);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    // ---------------------------------------------------------------- storage

    private static (string, object?, DbType)[] Identity(string? extension, string stateName = "state-v1") =>
    [
        ("GrainIdHash", 12345, DbType.Int32),
        ("GrainIdN0", 0L, DbType.Int64),
        ("GrainIdN1", 0L, DbType.Int64),
        ("GrainTypeHash", 777, DbType.Int32),
        ("GrainTypeString", stateName, DbType.String),
        ("GrainIdExtensionString", extension, DbType.String),
        ("ServiceId", "svc", DbType.String),
    ];

    private Task<List<object?[]>> WriteAsync(string? extension, int? version, byte[] payload) =>
        RunAsync("WriteToStorageKey", [.. Identity(extension), ("GrainStateVersion", version, DbType.Int32), ("PayloadBinary", payload, DbType.Binary)]);

    [Fact]
    public async Task Concurrent_first_writes_leave_one_row_and_the_loser_gets_no_version()
    {
        // Twenty activations racing to create the same state: exactly one wins, the rest see "no new version"
        // (a conflict for the provider), never an SQL error, and reads still find exactly one row.
        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() => WriteAsync("k:race", null, [(byte)i]))));

        var versions = results.Select(rows => Assert.Single(rows)[0]).ToList();
        Assert.Single(versions, v => v is int and 1);
        Assert.Equal(19, versions.Count(v => v is null or DBNull));
        Assert.Single(await RunAsync("ReadFromStorageKey", Identity("k:race")));
    }

    [Fact]
    public async Task A_write_with_a_stale_etag_changes_nothing_and_returns_no_version()
    {
        Assert.Equal(1, (await WriteAsync("k:stale", null, [1]))[0][0]);
        Assert.Equal(2, (await WriteAsync("k:stale", 1, [2]))[0][0]);

        Assert.True((await WriteAsync("k:stale", 1, [3]))[0][0] is null or DBNull);
        Assert.True((await WriteAsync("k:stale", null, [4]))[0][0] is null or DBNull);

        var row = Assert.Single(await RunAsync("ReadFromStorageKey", Identity("k:stale")));
        Assert.Equal(new byte[] { 2 }, row[0]);
        Assert.Equal(2, row[1]);
    }

    [Fact]
    public async Task Null_and_non_null_extensions_and_case_are_distinct_identities()
    {
        Assert.Equal(1, (await WriteAsync(null, null, [1]))[0][0]);
        Assert.Equal(1, (await WriteAsync("k:a", null, [2]))[0][0]);
        Assert.Equal(1, (await WriteAsync("k:A", null, [3]))[0][0]);

        Assert.Equal(new byte[] { 1 }, Assert.Single(await RunAsync("ReadFromStorageKey", Identity(null)))[0]);
        Assert.Equal(new byte[] { 3 }, Assert.Single(await RunAsync("ReadFromStorageKey", Identity("k:A")))[0]);
    }

    [Fact]
    public async Task Clear_keeps_the_row_with_a_new_version_and_delete_checks_the_etag()
    {
        await WriteAsync("k:clear", null, [1]);
        var cleared = await RunAsync("ClearStorageKey", [.. Identity("k:clear"), ("GrainStateVersion", 1, DbType.Int32)]);
        Assert.Equal(2, Assert.Single(cleared)[0]);

        var row = Assert.Single(await RunAsync("ReadFromStorageKey", Identity("k:clear")));
        Assert.True(row[0] is null or DBNull);
        Assert.Equal(2, row[1]);

        // The next write sends the clear's version back.
        Assert.Equal(3, (await WriteAsync("k:clear", 2, [5]))[0][0]);
        Assert.Empty(await RunAsync("ClearStorageKey", [.. Identity("k:clear"), ("GrainStateVersion", 2, DbType.Int32)]));

        Assert.Empty(await RunAsync("DeleteStorageKey", [.. Identity("k:clear"), ("GrainStateVersion", 2, DbType.Int32)]));
        var deleted = Assert.Single(await RunAsync("DeleteStorageKey", [.. Identity("k:clear"), ("GrainStateVersion", 3, DbType.Int32)]));
        Assert.NotEqual(3, deleted[0]);
        Assert.Empty(await RunAsync("ReadFromStorageKey", Identity("k:clear")));
    }

    // ---------------------------------------------------------------- clustering

    private Task<List<object?[]>> InsertMemberAsync(int port, int version) =>
        RunAsync("InsertMembershipKey",
        [
            ("DeploymentId", "c1", DbType.String), ("Address", "10.0.0.1", DbType.AnsiString), ("Port", port, DbType.Int32),
            ("Generation", 1, DbType.Int32), ("SiloName", $"silo-{port}", DbType.String), ("HostName", "host", DbType.String),
            ("Status", 2, DbType.Int32), ("ProxyPort", port + 1000, DbType.Int32),
            ("StartTime", DateTime.UtcNow, DbType.DateTime), ("IAmAliveTime", DateTime.UtcNow, DbType.DateTime),
            ("Version", version, DbType.Int32),
        ]);

    private Task<List<object?[]>> ReadAllAsync() => RunAsync("MembershipReadAllKey", [("DeploymentId", "c1", DbType.String)]);

    [Fact]
    public async Task Membership_writes_compare_and_raise_the_table_version_atomically()
    {
        var created = await RunAsync("InsertMembershipVersionKey", [("DeploymentId", "c1", DbType.String)]);
        Assert.Equal(true, Assert.Single(created)[0]);
        Assert.Equal(false, Assert.Single(await RunAsync("InsertMembershipVersionKey", [("DeploymentId", "c1", DbType.String)]))[0]);

        // Empty cluster: one version-only row (NULL start time) with version 0.
        var empty = Assert.Single(await ReadAllAsync());
        Assert.True(empty[Column("starttime")] is null or DBNull);
        Assert.Equal(0, empty[Column("version")]);

        // Ten silos join at once, all having read version 0: exactly one insert succeeds.
        var joins = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => Task.Run(() => InsertMemberAsync(11111 + i, 0))));
        Assert.Single(joins, rows => Equals(rows[0][0], true));
        var rows = await ReadAllAsync();
        Assert.Single(rows);
        Assert.Equal(1, rows[0][Column("version")]);

        // The same silo cannot be inserted twice, and the failed attempt leaves the version alone.
        var winner = (int)rows[0][Column("port")]!;
        Assert.Equal(false, (await InsertMemberAsync(winner, 1))[0][0]);
        Assert.Equal(1, (await ReadAllAsync())[0][Column("version")]);

        // Update: stale version -> false; current -> true and the version moves on.
        var update = (int status, int version) => RunAsync("UpdateMembershipKey",
        [
            ("DeploymentId", "c1", DbType.String), ("Address", "10.0.0.1", DbType.AnsiString), ("Port", winner, DbType.Int32),
            ("Generation", 1, DbType.Int32), ("Status", status, DbType.Int32), ("SuspectTimes", null, DbType.String),
            ("IAmAliveTime", DateTime.UtcNow, DbType.DateTime), ("Version", version, DbType.Int32),
        ]);
        Assert.Equal(false, (await update(3, 0))[0][0]);
        Assert.Equal(true, (await update(3, 1))[0][0]);
        var active = Assert.Single(await ReadAllAsync());
        Assert.Equal(3, active[Column("status")]);
        Assert.Equal(2, active[Column("version")]);

        var gateways = Assert.Single(await RunAsync("GatewaysQueryKey", [("DeploymentId", "c1", DbType.String), ("Status", 3, DbType.Int32)]));
        Assert.Equal(winner + 1000, gateways[1]);
    }

    private static int Column(string name) => name switch
    {
        "address" => 1, "port" => 2, "status" => 6, "starttime" => 9, "version" => 11,
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    // ---------------------------------------------------------------- reminders

    private Task<List<object?[]>> UpsertReminderAsync(string serviceId, string grainId, string name, int hash) =>
        RunAsync("UpsertReminderRowKey",
        [
            ("ServiceId", serviceId, DbType.String), ("GrainId", grainId, DbType.AnsiString), ("ReminderName", name, DbType.String),
            ("StartTime", DateTime.UtcNow, DbType.DateTime), ("Period", 60_000L * 60 * 24 * 30, DbType.Int64), // over int32 ms
            ("GrainHash", hash, DbType.Int32),
        ]);

    private async Task<List<string>> RangeAsync(int begin, int end)
    {
        var key = begin < end ? "ReadRangeRows1Key" : "ReadRangeRows2Key"; // the provider's own choice
        var rows = await RunAsync(key, [("ServiceId", "svc-range", DbType.String), ("BeginHash", begin, DbType.Int32), ("EndHash", end, DbType.Int32)]);
        return rows.Select(r => (string)r[0]!).Order(StringComparer.Ordinal).ToList();
    }

    [Fact]
    public async Task Reminder_ranges_compare_signed_hashes_and_wrap_around()
    {
        await UpsertReminderAsync("svc-range", "t/min", "r", int.MinValue);
        await UpsertReminderAsync("svc-range", "t/neg", "r", -5);
        await UpsertReminderAsync("svc-range", "t/zero", "r", 0);
        await UpsertReminderAsync("svc-range", "t/pos", "r", 5);
        await UpsertReminderAsync("svc-range", "t/max", "r", int.MaxValue);

        Assert.Equal(["t/pos", "t/zero"], await RangeAsync(-5, 5)); // (-5, 5]
        Assert.Equal(["t/max", "t/min", "t/neg"], await RangeAsync(5, -5)); // wraps: (5, max] and [min, -5]
        Assert.Equal(5, (await RangeAsync(7, 7)).Count); // begin = end: the whole ring
    }

    [Fact]
    public async Task Reminder_upsert_changes_the_version_and_delete_checks_it()
    {
        var v0 = (int)Assert.Single(await UpsertReminderAsync("svc-version", "t/x", "r", 1))[0]!;
        var v1 = (int)Assert.Single(await UpsertReminderAsync("svc-version", "t/x", "r", 1))[0]!;
        Assert.NotEqual(v0, v1);

        var delete = (int version) => RunAsync("DeleteReminderRowKey",
        [
            ("ServiceId", "svc-version", DbType.String), ("GrainId", "t/x", DbType.AnsiString), ("ReminderName", "r", DbType.String),
            ("Version", version, DbType.Int32),
        ]);
        Assert.Equal(false, Assert.Single(await delete(v0))[0]);
        Assert.Equal(true, Assert.Single(await delete(v1))[0]);
        Assert.Empty(await RunAsync("ReadReminderRowKey",
            [("ServiceId", "svc-version", DbType.String), ("GrainId", "t/x", DbType.AnsiString), ("ReminderName", "r", DbType.String)]));
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>Runs a stored query text as the provider does: named parameters without prefix, typed, every row of
    /// every result set read.</summary>
    private async Task<List<object?[]>> RunAsync(string key, (string Name, object? Value, DbType Type)[] parameters)
    {
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(queries[key], connection);
        foreach (var (name, value, type) in parameters)
            command.Parameters.Add(new NpgsqlParameter(name, type) { Value = value ?? DBNull.Value });
        var rows = new List<object?[]>();
        await using var reader = await command.ExecuteReaderAsync();
        do
        {
            while (await reader.ReadAsync())
            {
                var row = new object?[reader.FieldCount];
                for (var i = 0; i < row.Length; i++) row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
                rows.Add(row);
            }
        }
        while (await reader.NextResultAsync());
        return rows;
    }
}
