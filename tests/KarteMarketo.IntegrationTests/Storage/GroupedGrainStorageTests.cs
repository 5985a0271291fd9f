using KarteMarketo.Grains.Flows.LeadSync;
using KarteMarketo.Grains.Storage;
using KarteMarketo.IntegrationTests.Infrastructure;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Serialization;
using Orleans.Storage;

namespace KarteMarketo.IntegrationTests.Storage;

/// <summary>The lead keys' grain storage on PostgreSQL: what a grain sees is what Orleans' own storage gives it (reads,
/// ETags, conflicts, clears), whether its call shares a statement with others or not; and the upgrade moves the lead
/// keys' states out of Orleans' table.</summary>
public sealed class GroupedGrainStorageTests(MigratedDatabaseFixture fixture) : IClassFixture<MigratedDatabaseFixture>, IAsyncLifetime
{
    private const string StateName = "lead-key-state";
    private readonly NpgsqlDataSource _dataSource = NpgsqlDataSource.Create(fixture.Database.ConnectionString);
    private PostgresGroupedGrainStorage _storage = null!;

    private static IGrainStorageSerializer Serializer() =>
        new SystemTextJsonGrainStorageSerializer(Options.Create(new SystemTextJsonGrainStorageSerializerOptions()));

    public Task InitializeAsync()
    {
        _storage = new PostgresGroupedGrainStorage(_dataSource, Serializer(), "svc-" + Guid.NewGuid().ToString("N")[..8]);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _storage.DisposeAsync();
        await _dataSource.DisposeAsync();
    }

    private static GrainId NewKey() => GrainId.Create("lead-key", $"k:p/email/{Guid.NewGuid():N}@example.com");

    private async Task<GrainState<LeadKeyState>> ReadAsync(GrainId id)
    {
        var state = new GrainState<LeadKeyState>(new LeadKeyState());
        await _storage.ReadStateAsync(StateName, id, state);
        return state;
    }

    [Fact]
    public async Task A_state_reads_back_as_written_and_every_write_raises_the_etag()
    {
        var id = NewKey();
        var state = await ReadAsync(id);
        Assert.False(state.RecordExists);
        Assert.Null(state.ETag);

        state.State!.LeadId = 318581;
        state.State!.LastResult = Contracts.LeadSync.SyncResult.Synced;
        await _storage.WriteStateAsync(StateName, id, state);
        Assert.Equal("1", state.ETag);
        state.State!.LeadId = 318582;
        await _storage.WriteStateAsync(StateName, id, state);
        Assert.Equal("2", state.ETag);

        var again = await ReadAsync(id);
        Assert.True(again.RecordExists);
        Assert.Equal("2", again.ETag);
        Assert.Equal(318582, again.State!.LeadId);
        Assert.Equal(Contracts.LeadSync.SyncResult.Synced, again.State!.LastResult);
    }

    [Fact]
    public async Task A_stale_etag_and_a_second_first_write_are_conflicts_that_change_nothing()
    {
        var id = NewKey();
        var first = await ReadAsync(id);
        var second = await ReadAsync(id);                      // another activation of the same key (a host's death)
        first.State!.LeadId = 1;
        await _storage.WriteStateAsync(StateName, id, first);
        second.State!.LeadId = 2;
        await Assert.ThrowsAsync<InconsistentStateException>(() => _storage.WriteStateAsync(StateName, id, second));

        var stale = await ReadAsync(id);
        first.State!.LeadId = 3;
        await _storage.WriteStateAsync(StateName, id, first);
        stale.State!.LeadId = 4;
        await Assert.ThrowsAsync<InconsistentStateException>(() => _storage.WriteStateAsync(StateName, id, stale));
        Assert.Equal(3, (await ReadAsync(id)).State!.LeadId);
    }

    [Fact]
    public async Task Many_grains_at_once_share_statements_and_each_gets_its_own_answer()
    {
        var ids = Enumerable.Range(0, 1_200).Select(_ => NewKey()).ToArray();
        var states = await Task.WhenAll(ids.Select(ReadAsync));
        await Task.WhenAll(ids.Select((id, i) =>
        {
            states[i].State!.LeadId = i;
            return _storage.WriteStateAsync(StateName, id, states[i]);
        }));
        Assert.All(states, s => Assert.Equal("1", s.ETag));

        // Two writes of one grain with the same ETag, at the same moment: one wins, the other is a conflict.
        var twin = await ReadAsync(ids[0]);
        twin.State!.LeadId = -1;
        var racing = new[] { _storage.WriteStateAsync(StateName, ids[0], states[0]), _storage.WriteStateAsync(StateName, ids[0], twin) };
        var outcomes = await Task.WhenAll(racing.Select(async t =>
        {
            try { await t; return true; } catch (InconsistentStateException) { return false; }
        }));
        Assert.Single(outcomes, won => won);

        var read = await Task.WhenAll(ids.Select(ReadAsync));
        Assert.Equal(Enumerable.Range(1, ids.Length - 1).Select(i => (long?)i), read.Skip(1).Select(s => s.State!.LeadId));
        Assert.Equal("2", read[0].ETag);
    }

    [Fact]
    public async Task A_clear_keeps_the_row_raises_the_etag_and_a_later_write_needs_that_etag()
    {
        var id = NewKey();
        var state = await ReadAsync(id);
        state.State!.LeadId = 7;
        await _storage.WriteStateAsync(StateName, id, state);
        var stale = await ReadAsync(id);

        await _storage.ClearStateAsync(StateName, id, state);
        Assert.Equal("2", state.ETag);
        Assert.False(state.RecordExists);
        var cleared = await ReadAsync(id);
        Assert.False(cleared.RecordExists);
        Assert.Equal("2", cleared.ETag);
        Assert.Null(cleared.State!.LeadId);

        await Assert.ThrowsAsync<InconsistentStateException>(() => _storage.ClearStateAsync(StateName, id, stale));
        state.State!.LeadId = 8;
        await _storage.WriteStateAsync(StateName, id, state);
        Assert.Equal(8, (await ReadAsync(id)).State!.LeadId);
    }

    [Fact]
    public async Task The_upgrade_moves_lead_key_states_out_of_orleans_table_with_their_versions()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        var migrator = new DatabaseMigrator(db.ConnectionString);
        var all = DatabaseMigrator.LoadEmbedded();
        await migrator.MigrateAsync([.. all.Where(m => m.Version < 210)]);

        // As Orleans' ADO.NET storage left them: a lead key (string key, whole key as the extension) and a project.
        var payload = Serializer().Serialize(new LeadKeyState { LeadId = 42 }).ToArray();
        await using (var connection = db.OpenConnection())
        await using (var insert = new NpgsqlCommand("""
            INSERT INTO orleansstorage (grainidhash, graintypehash, serviceid, grainidn0, grainidn1, graintypestring, grainidextensionstring, payloadbinary, version)
            VALUES (11, 12, 'svc', 0, 0, 'lead-key-state', 'k:p/email/old@example.com', @payload, 5),
                   (13, 14, 'svc', 0, 0, 'project-state', 'p:p', @payload, 3)
            """, connection))
        {
            insert.Parameters.AddWithValue("payload", payload);
            await insert.ExecuteNonQueryAsync();
        }
        await migrator.MigrateAsync();

        await using var dataSource = NpgsqlDataSource.Create(db.ConnectionString);
        await using var storage = new PostgresGroupedGrainStorage(dataSource, Serializer(), "svc");
        var state = new GrainState<LeadKeyState>(new LeadKeyState());
        await storage.ReadStateAsync(StateName, GrainId.Create("lead-key", "k:p/email/old@example.com"), state);
        Assert.True(state.RecordExists);
        Assert.Equal("5", state.ETag);
        Assert.Equal(42, state.State!.LeadId);
        Assert.Equal(0, await db.ScalarAsync<long>("SELECT count(*) FROM orleansstorage WHERE graintypestring = 'lead-key-state'"));
        Assert.Equal(1, await db.ScalarAsync<long>("SELECT count(*) FROM orleansstorage WHERE graintypestring = 'project-state'"));
    }
}
