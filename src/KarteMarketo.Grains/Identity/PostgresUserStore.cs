using System.Text.Json.Nodes;
using KarteMarketo.Grains.Flows.KarteWriteBack;
using KarteMarketo.Grains.Storage;
using Npgsql;
using NpgsqlTypes;

namespace KarteMarketo.Grains.Identity;

/// <summary>The user table in PostgreSQL (<c>db/migrations/0100_users.sql</c>), through the host's one <see cref="NpgsqlDataSource"/>.
/// The two writes of the lead sync's hot path (new links, sync results) are group-committed: key grains writing at the
/// same moment share one statement, and each returns once its rows are stored.</summary>
public sealed class PostgresUserStore : IUserStore, IAsyncDisposable
{
    private readonly NpgsqlDataSource dataSource;
    private readonly GroupCommit<KeyLink> _links;
    private readonly GroupCommit<SyncWrite> _syncs;

    /// <summary>A new link; <see cref="Replaced"/> hears which emails of the user it ended (the latest email wins).</summary>
    private sealed record KeyLink(string ProjectId, string UserId, LeadKeyType Type, string Value)
    {
        public TaskCompletionSource<IReadOnlyList<string>> Replaced { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
    private sealed record SyncWrite(string ProjectId, IReadOnlyCollection<string> UserIds, UserSyncUpdate Update);

    private readonly TimeProvider _time;

    public PostgresUserStore(NpgsqlDataSource dataSource, TimeProvider? time = null)
    {
        this.dataSource = dataSource;
        _time = time ?? TimeProvider.System;
        _links = new GroupCommit<KeyLink>(WriteLinksAsync, maxItems: 1_000);
        _syncs = new GroupCommit<SyncWrite>(WriteSyncResultsAsync, maxItems: 500);
    }

    public async Task<IReadOnlyList<string>> LinkKeyAsync(string projectId, string userId, LeadKeyType type, string value,
        CancellationToken cancellationToken = default)
    {
        var link = new KeyLink(projectId, userId, type, value);
        await _links.AddAsync(link, cancellationToken);
        return await link.Replaced.Task;
    }

    private async Task WriteLinksAsync(IReadOnlyList<KeyLink> links)
    {
        // The latest email of a user wins (LeadKeyPolicy.LatestKeyWins), also among the links of one group: only each
        // user's last email link counts. The statement below ends the older ones.
        var lastEmail = new Dictionary<(string, string), KeyLink>();
        foreach (var link in links.Where(l => LeadKeyPolicy.LatestKeyWins(l.Type))) lastEmail[(link.ProjectId, link.UserId)] = link;
        var kept = links.Where(l => !LeadKeyPolicy.LatestKeyWins(l.Type) || ReferenceEquals(lastEmail[(l.ProjectId, l.UserId)], l)).ToList();
        var emails = lastEmail.Values.ToList();

        // One round trip: the user rows (if new), the end of older email links (and of the lead they gave), the keys.
        var projects = kept.Select(l => l.ProjectId).ToArray();
        var users = kept.Select(l => l.UserId).ToArray();
        await using var batch = dataSource.CreateBatch();
        var user = new NpgsqlBatchCommand(
            "INSERT INTO users (project_id, user_id) SELECT * FROM unnest(@p, @u) ORDER BY 1, 2 ON CONFLICT DO NOTHING");
        user.Parameters.Add(PostgresArrays.Of("p", NpgsqlDbType.Text, projects));
        user.Parameters.Add(PostgresArrays.Of("u", NpgsqlDbType.Text, users));
        var replaced = new NpgsqlBatchCommand("""
            WITH ended AS (
                DELETE FROM user_keys k USING unnest(@p, @u, @v) AS n(p, u, v)
                 WHERE k.project_id = n.p AND k.user_id = n.u AND k.key_type = 'email' AND k.key_value <> n.v
             RETURNING k.project_id, k.user_id, k.key_value),
            cleared AS (
                UPDATE users t SET info = NULLIF(t.info - 'marketo' - 'marketo_hash', '{}'::jsonb), lead_id = NULL,
                       synced_by = NULL, lead_instance = NULL, updated_at = now()
                  FROM (SELECT DISTINCT project_id, user_id FROM ended) e
                 WHERE t.project_id = e.project_id AND t.user_id = e.user_id AND t.synced_by = 'email'
                RETURNING 1)
            SELECT project_id, user_id, key_value FROM ended
            """);
        replaced.Parameters.Add(PostgresArrays.Of("p", NpgsqlDbType.Text, emails.Select(l => l.ProjectId).ToArray()));
        replaced.Parameters.Add(PostgresArrays.Of("u", NpgsqlDbType.Text, emails.Select(l => l.UserId).ToArray()));
        replaced.Parameters.Add(PostgresArrays.Of("v", NpgsqlDbType.Text, emails.Select(l => l.Value).ToArray()));
        var key = new NpgsqlBatchCommand(
            "INSERT INTO user_keys (project_id, user_id, key_type, key_value) SELECT * FROM unnest(@p, @u, @t, @v) ON CONFLICT DO NOTHING");
        key.Parameters.Add(PostgresArrays.Of("p", NpgsqlDbType.Text, projects));
        key.Parameters.Add(PostgresArrays.Of("u", NpgsqlDbType.Text, users));
        key.Parameters.Add(PostgresArrays.Of("t", NpgsqlDbType.Text, kept.Select(l => l.Type.ToKeyword()).ToArray()));
        key.Parameters.Add(PostgresArrays.Of("v", NpgsqlDbType.Text, kept.Select(l => l.Value).ToArray()));
        batch.BatchCommands.Add(user);
        batch.BatchCommands.Add(replaced);
        batch.BatchCommands.Add(key);

        var ended = new Dictionary<(string, string), List<string>>();
        await using (var reader = await batch.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                var who = (reader.GetString(0), reader.GetString(1));
                if (!ended.TryGetValue(who, out var list)) ended[who] = list = [];
                list.Add(reader.GetString(2));
            }
        }
        foreach (var link in links)
        {
            IReadOnlyList<string> result = [];
            if (LeadKeyPolicy.LatestKeyWins(link.Type) && ReferenceEquals(lastEmail[(link.ProjectId, link.UserId)], link))
            {
                // The stored links it ended, and those of the same group it overtook (their grains linked the user too).
                var overtaken = links.Where(l => l.Type == LeadKeyType.Email && l.ProjectId == link.ProjectId
                    && l.UserId == link.UserId && l.Value != link.Value).Select(l => l.Value);
                result = [.. (ended.GetValueOrDefault((link.ProjectId, link.UserId)) ?? []).Concat(overtaken).Distinct(StringComparer.Ordinal)];
            }
            link.Replaced.TrySetResult(result);
        }
    }

    public async Task UnlinkKeyAsync(string projectId, string userId, LeadKeyType type, string value, long? leadId,
        CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            WITH ended AS (
                DELETE FROM user_keys WHERE project_id = @p AND user_id = @u AND key_type = @t AND key_value = @v RETURNING 1)
            UPDATE users SET info = NULLIF(info - 'marketo' - 'marketo_hash', '{}'::jsonb), lead_id = NULL, synced_by = NULL,
                   lead_instance = NULL, updated_at = now()
             WHERE project_id = @p AND user_id = @u AND synced_by = @t AND lead_id = @l AND EXISTS (SELECT 1 FROM ended)
            """);
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.AddWithValue("u", userId);
        command.Parameters.AddWithValue("t", type.ToKeyword());
        command.Parameters.AddWithValue("v", value);
        command.Parameters.Add(new NpgsqlParameter("l", NpgsqlDbType.Bigint) { Value = (object?)leadId ?? DBNull.Value });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<string>> ClearLeadAsync(string projectId, IReadOnlyCollection<string> userIds, LeadKeyType syncedBy,
        CancellationToken cancellationToken = default)
    {
        if (userIds.Count == 0) return [];
        await using var command = dataSource.CreateCommand("""
            UPDATE users SET info = NULLIF(info - 'marketo' - 'marketo_hash', '{}'::jsonb), lead_id = NULL, synced_by = NULL,
                   lead_instance = NULL, updated_at = now()
             WHERE project_id = @p AND user_id = ANY(@u) AND synced_by = @t AND lead_id IS NOT NULL
            RETURNING user_id
            """);
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.Add(PostgresArrays.Of("u", NpgsqlDbType.Text, userIds.ToArray()));
        command.Parameters.AddWithValue("t", syncedBy.ToKeyword());
        var cleared = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) cleared.Add(reader.GetString(0));
        return cleared;
    }

    public async Task<int> ForgetOtherInstancesAsync(string projectId, string instance, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            UPDATE users SET info = NULLIF(info - 'marketo' - 'marketo_hash', '{}'::jsonb), lead_id = NULL, synced_by = NULL,
                   lead_instance = NULL, updated_at = now()
             WHERE project_id = @p AND lead_id IS NOT NULL AND lead_instance IS DISTINCT FROM @i
            """);
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.AddWithValue("i", instance);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<string>> ListKeyValuesAsync(string projectId, LeadKeyType type, string? after, int limit,
        CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT DISTINCT key_value COLLATE "C" AS v FROM user_keys
             WHERE project_id = @p AND key_type = @t AND (@after::text IS NULL OR key_value COLLATE "C" > @after)
             ORDER BY v LIMIT @limit
            """);
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.AddWithValue("t", type.ToKeyword());
        command.Parameters.Add(new NpgsqlParameter("after", NpgsqlDbType.Text) { Value = (object?)after ?? DBNull.Value });
        command.Parameters.AddWithValue("limit", limit);
        var values = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) values.Add(reader.GetString(0));
        return values;
    }

    public async Task<IReadOnlyList<string>> ListUsersOfKeyAsync(string projectId, LeadKeyType type, string value, int limit,
        CancellationToken cancellationToken = default)
    {
        // The newest links (user_keys_by_key), then oldest first: a key's list drops its oldest users beyond the cap.
        await using var command = dataSource.CreateCommand("""
            SELECT user_id FROM (
                SELECT user_id, created_at FROM user_keys WHERE project_id = @p AND key_type = @t AND key_value = @v
                 ORDER BY created_at DESC, user_id DESC LIMIT @limit) newest
             ORDER BY created_at, user_id
            """);
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.AddWithValue("t", type.ToKeyword());
        command.Parameters.AddWithValue("v", value);
        command.Parameters.AddWithValue("limit", limit);
        var users = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) users.Add(reader.GetString(0));
        return users;
    }

    public async Task<int> CountKeyValuesAsync(string projectId, LeadKeyType type, CancellationToken cancellationToken = default)
    {
        // The distinct values read in key order from user_keys_by_key (an index-only scan and a Unique step) take a
        // third of the time of the hash aggregate the planner picks by itself: 24 ms against 62 ms at 100,000 keys,
        // which is what keeps the console's resync page under 200 ms. The setting is local to this transaction.
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var setting = new NpgsqlCommand("SET LOCAL enable_hashagg = off", connection, transaction))
            await setting.ExecuteNonQueryAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            "SELECT count(*) FROM (SELECT DISTINCT key_value FROM user_keys WHERE project_id = @p AND key_type = @t) k",
            connection, transaction);
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.AddWithValue("t", type.ToKeyword());
        var count = Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        return count;
    }

    public async Task<IReadOnlyList<UserKey>> GetKeysAsync(string projectId, string userId, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT key_type, key_value FROM user_keys WHERE project_id = @p AND user_id = @u ORDER BY created_at, key_type, key_value");
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.AddWithValue("u", userId);
        var keys = new List<UserKey>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            keys.Add(new UserKey(ParseType(reader.GetString(0)), reader.GetString(1)));
        return keys;
    }

    public async Task<IReadOnlyList<string>> FindUsersByLeadIdAsync(string projectId, string instance, long leadId,
        CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT user_id FROM users WHERE project_id = @p AND lead_id = @l AND (lead_instance = @i OR lead_instance IS NULL)
             ORDER BY user_id
            """);
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.AddWithValue("i", instance);
        command.Parameters.AddWithValue("l", leadId);
        var users = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) users.Add(reader.GetString(0));
        return users;
    }

    public async Task<bool> ExistsAsync(string projectId, string userId, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("SELECT 1 FROM users WHERE project_id = @p AND user_id = @u");
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.AddWithValue("u", userId);
        return await command.ExecuteScalarAsync(cancellationToken) is not null;
    }

    public async Task TouchUsersAsync(string projectId, IReadOnlyCollection<string> userIds, CancellationToken cancellationToken = default)
    {
        if (userIds.Count == 0) return;
        await using var command = dataSource.CreateCommand(
            "INSERT INTO users (project_id, user_id) SELECT @p, unnest(@users) ON CONFLICT DO NOTHING");
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.Add(PostgresArrays.Of("users", NpgsqlDbType.Text, userIds.ToArray()));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public Task ApplySyncResultAsync(string projectId, IReadOnlyCollection<string> userIds, UserSyncUpdate update,
        CancellationToken cancellationToken = default) =>
        userIds.Count == 0 ? Task.CompletedTask : _syncs.AddAsync(new SyncWrite(projectId, userIds, update), cancellationToken);

    private async Task WriteSyncResultsAsync(IReadOnlyList<SyncWrite> writes)
    {
        // An upsert may touch a row once: fold the writes of one user in arrival order with the same rule the statement
        // applies against the stored row (LeadKeyPolicy.MayReplaceLead: a cookie result never replaces an email-found lead).
        var rows = new Dictionary<(string Project, string User), UserSyncUpdate>();
        foreach (var write in writes)
        {
            foreach (var userId in write.UserIds)
            {
                var key = (write.ProjectId, userId);
                if (!rows.TryGetValue(key, out var current) || LeadKeyPolicy.MayReplaceLead(current.SyncedBy, current.LeadId, write.Update.SyncedBy))
                    rows[key] = write.Update;
            }
        }
        var command = new NpgsqlBatchCommand("""
            INSERT INTO users AS t (project_id, user_id, info, lead_id, synced_by, synced_at, lead_instance)
            SELECT p, u, i::jsonb, l, b, a, n FROM unnest(@p, @u, @info, @lead, @by, @at, @inst) AS r(p, u, i, l, b, a, n) ORDER BY p, u
            ON CONFLICT (project_id, user_id) DO UPDATE
               SET info = excluded.info, lead_id = excluded.lead_id, synced_by = excluded.synced_by,
                   synced_at = excluded.synced_at, lead_instance = excluded.lead_instance, updated_at = now()
             WHERE excluded.synced_by = 'email' OR t.synced_by IS DISTINCT FROM 'email' OR t.lead_id IS NULL  -- LeadKeyPolicy.MayReplaceLead
            """);
        command.Parameters.Add(PostgresArrays.Of("p", NpgsqlDbType.Text, rows.Keys.Select(k => k.Project).ToArray()));
        command.Parameters.Add(PostgresArrays.Of("u", NpgsqlDbType.Text, rows.Keys.Select(k => k.User).ToArray()));
        command.Parameters.Add(PostgresArrays.Of("info", NpgsqlDbType.Text, rows.Values.Select(v => v.IdentifyJson).ToArray()));
        command.Parameters.Add(PostgresArrays.Of("lead", NpgsqlDbType.Bigint, rows.Values.Select(v => v.LeadId).ToArray()));
        command.Parameters.Add(PostgresArrays.Of("by", NpgsqlDbType.Text, rows.Values.Select(v => v.SyncedBy.ToKeyword()).ToArray()));
        command.Parameters.Add(PostgresArrays.Of("at", NpgsqlDbType.TimestampTz, rows.Values.Select(v => v.SyncedAt.ToUniversalTime()).ToArray()));
        command.Parameters.Add(PostgresArrays.Of("inst", NpgsqlDbType.Text, rows.Values.Select(v => v.Instance).ToArray()));
        await using var batch = dataSource.CreateBatch();
        batch.BatchCommands.Add(command);
        // The KARTE writes of the results just applied, in the same batch (one implicit transaction): a sync result is
        // never committed without them, and one the upsert left alone (cookie vs. email) is not written.
        var karte = rows.Where(kv => kv.Value.Karte is not null && KarteWritePayload.IsWritableUserId(kv.Key.User))
            .Select(kv => (kv.Key.Project, KarteQueuedWrite.UserInfo(kv.Key.User, JsonNode.Parse(kv.Value.IdentifyJson)!.AsObject(),
                kv.Value.SyncedAt, kv.Value.Karte!.OnlyOnChange)))
            .ToList();
        if (karte.Count > 0) batch.BatchCommands.Add(PostgresKarteWriteQueue.EnqueueCommand(karte, _time.GetUtcNow(), requireStoredInfo: true));
        await batch.ExecuteNonQueryAsync();
    }

    public async Task<StoredUserInfo?> GetUserInfoAsync(string projectId, string userId, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT info::text, lead_id, synced_by, synced_at FROM users WHERE project_id = @p AND user_id = @u");
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.AddWithValue("u", userId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken)) return null;
        return new StoredUserInfo(
            userId,
            reader.IsDBNull(0) ? null : reader.GetString(0),
            reader.IsDBNull(1) ? null : reader.GetInt64(1),
            reader.IsDBNull(2) ? null : ParseType(reader.GetString(2)),
            reader.IsDBNull(3) ? null : reader.GetFieldValue<DateTimeOffset>(3));
    }

    public async Task<SegmentPage> GetSegmentAsync(string projectId, UserSegment segment, int limit, string? after,
        CancellationToken cancellationToken = default)
    {
        // The WHERE clauses match the partial indexes of 0100_users.sql word for word, so the planner can use them.
        var filter = segment == UserSegment.MarketoCookieSynced
            ? "lead_id IS NOT NULL AND synced_by = 'cookie'"
            : "lead_id IS NOT NULL";
        await using var batch = dataSource.CreateBatch();
        var count = new NpgsqlBatchCommand($"SELECT count(*) FROM users WHERE project_id = @p AND {filter}");
        count.Parameters.AddWithValue("p", projectId);
        var page = new NpgsqlBatchCommand(
            $"SELECT user_id FROM users WHERE project_id = @p AND {filter} AND (@after::text IS NULL OR user_id > @after) ORDER BY user_id LIMIT @limit");
        page.Parameters.AddWithValue("p", projectId);
        page.Parameters.Add(new NpgsqlParameter("after", NpgsqlDbType.Text) { Value = (object?)after ?? DBNull.Value });
        page.Parameters.AddWithValue("limit", limit + 1);
        batch.BatchCommands.Add(count);
        batch.BatchCommands.Add(page);

        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var total = reader.GetInt64(0);
        await reader.NextResultAsync(cancellationToken);
        var users = new List<string>();
        while (await reader.ReadAsync(cancellationToken)) users.Add(reader.GetString(0));
        string? next = null;
        if (users.Count > limit)
        {
            users.RemoveAt(limit);
            next = users[^1];
        }
        return new SegmentPage(total, users, next);
    }

    private static LeadKeyType ParseType(string keyword) => keyword == "cookie" ? LeadKeyType.Cookie : LeadKeyType.Email;

    public async ValueTask DisposeAsync()
    {
        await _links.DisposeAsync();
        await _syncs.DisposeAsync();
    }
}
