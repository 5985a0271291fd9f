using Npgsql;
using NpgsqlTypes;

namespace KarteMarketo.Grains.Users;

/// <summary>The user table in PostgreSQL (<c>db/migrations/0100_users.sql</c>), through the host's one <see cref="NpgsqlDataSource"/>.</summary>
public sealed class PostgresUserStore(NpgsqlDataSource dataSource) : IUserStore
{
    public async Task LinkKeyAsync(string projectId, string userId, LeadKeyType type, string value, CancellationToken cancellationToken = default)
    {
        // One round trip: the user row (if new), then the key.
        await using var batch = dataSource.CreateBatch();
        var user = new NpgsqlBatchCommand("INSERT INTO users (project_id, user_id) VALUES (@p, @u) ON CONFLICT DO NOTHING");
        user.Parameters.AddWithValue("p", projectId);
        user.Parameters.AddWithValue("u", userId);
        var key = new NpgsqlBatchCommand(
            "INSERT INTO user_keys (project_id, user_id, key_type, key_value) VALUES (@p, @u, @t, @v) ON CONFLICT DO NOTHING");
        key.Parameters.AddWithValue("p", projectId);
        key.Parameters.AddWithValue("u", userId);
        key.Parameters.AddWithValue("t", type.ToKeyword());
        key.Parameters.AddWithValue("v", value);
        batch.BatchCommands.Add(user);
        batch.BatchCommands.Add(key);
        await batch.ExecuteNonQueryAsync(cancellationToken);
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

    public async Task<IReadOnlyList<string>> FindUsersByLeadIdAsync(string projectId, long leadId, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT user_id FROM users WHERE project_id = @p AND lead_id = @l ORDER BY user_id");
        command.Parameters.AddWithValue("p", projectId);
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
        command.Parameters.Add(new NpgsqlParameter("users", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = userIds.ToArray() });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task ApplySyncResultAsync(string projectId, IReadOnlyCollection<string> userIds, UserSyncUpdate update,
        CancellationToken cancellationToken = default)
    {
        if (userIds.Count == 0) return;
        // Same rule as UserSyncRules.MayApply: a cookie result never replaces an email-found lead.
        await using var command = dataSource.CreateCommand("""
            INSERT INTO users AS t (project_id, user_id, info, lead_id, synced_by, synced_at)
            SELECT @p, unnest(@users), @info, @lead, @by, @at
            ON CONFLICT (project_id, user_id) DO UPDATE
               SET info = excluded.info, lead_id = excluded.lead_id, synced_by = excluded.synced_by,
                   synced_at = excluded.synced_at, updated_at = now()
             WHERE excluded.synced_by = 'email' OR t.synced_by IS DISTINCT FROM 'email' OR t.lead_id IS NULL
            """);
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.Add(new NpgsqlParameter("users", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = userIds.ToArray() });
        command.Parameters.Add(new NpgsqlParameter("info", NpgsqlDbType.Jsonb) { Value = update.IdentifyJson });
        command.Parameters.AddWithValue("lead", update.LeadId);
        command.Parameters.AddWithValue("by", update.SyncedBy.ToKeyword());
        command.Parameters.AddWithValue("at", update.SyncedAt.ToUniversalTime());
        await command.ExecuteNonQueryAsync(cancellationToken);
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
}
