using System.Text.Json.Nodes;
using KarteMarketo.Grains.Storage;
using Npgsql;
using NpgsqlTypes;

namespace KarteMarketo.Grains.Flows.MarketoActivities;

/// <summary>Webhook events in PostgreSQL (<c>db/migrations/0110_webhook_events.sql</c>).</summary>
public sealed class PostgresWebhookEventStore(NpgsqlDataSource dataSource) : IWebhookEventStore
{
    public Task<WebhookRecordResult> RecordAsync(NewWebhookEvent e, CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync(async () =>
    {
        await using (var insert = dataSource.CreateCommand("""
            INSERT INTO webhook_events (project_id, dedupe_key, event_name, event_values, email, lead_id, cookie, user_ids,
                                        received_at, occurred_at)
            VALUES (@project, @dedupe, @name, @values::jsonb, @email, @lead, @cookie, @users, @received, @occurred)
            ON CONFLICT (project_id, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
            RETURNING id
            """))
        {
            AddCommon(insert, e.ProjectId);
            insert.Parameters.Add(new NpgsqlParameter<string?>("dedupe", NpgsqlDbType.Text) { TypedValue = e.DedupeKey });
            insert.Parameters.AddWithValue("name", e.EventName);
            insert.Parameters.AddWithValue("values", e.Values.ToJsonString());
            insert.Parameters.Add(new NpgsqlParameter<string?>("email", NpgsqlDbType.Text) { TypedValue = e.Email });
            insert.Parameters.Add(new NpgsqlParameter<long?>("lead", NpgsqlDbType.Bigint) { TypedValue = e.LeadId });
            insert.Parameters.Add(new NpgsqlParameter<string?>("cookie", NpgsqlDbType.Text) { TypedValue = e.Cookie });
            insert.Parameters.AddWithValue("users", e.UserIds.ToArray());
            insert.Parameters.AddWithValue("received", e.ReceivedAt.ToUniversalTime());
            insert.Parameters.Add(new NpgsqlParameter<DateTimeOffset?>("occurred", NpgsqlDbType.TimestampTz) { TypedValue = e.OccurredAt?.ToUniversalTime() });
            if (await insert.ExecuteScalarAsync(cancellationToken) is long id)
                return new WebhookRecordResult(true, id, e.UserIds);
        }

        // A repeat of an idempotency key: answer with the first event's users.
        await using var select = dataSource.CreateCommand(
            "SELECT id, user_ids FROM webhook_events WHERE project_id = @project AND dedupe_key = @dedupe");
        AddCommon(select, e.ProjectId);
        select.Parameters.AddWithValue("dedupe", e.DedupeKey!);
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
            throw new InvalidOperationException("An event conflicted on its dedupe key but cannot be read back.");
        return new WebhookRecordResult(false, reader.GetInt64(0), reader.GetFieldValue<string[]>(1));
    });

    public Task<IReadOnlyList<StoredWebhookEvent>> ListForUserAsync(string projectId, string userId, UserEventKeys keys, int limit,
        CancellationToken cancellationToken = default) => PostgresCalls.RunAsync<IReadOnlyList<StoredWebhookEvent>>(async () =>
    {
        await using var command = dataSource.CreateCommand("""
            SELECT id, event_name, event_values::text, received_at, occurred_at
            FROM webhook_events
            WHERE project_id = @project
              AND (user_ids @> ARRAY[@user]::text[] OR email = ANY(@emails) OR cookie = ANY(@cookies) OR lead_id = ANY(@leads))
            ORDER BY received_at DESC, id DESC
            LIMIT @limit
            """);
        AddCommon(command, projectId);
        command.Parameters.AddWithValue("user", userId);
        command.Parameters.AddWithValue("emails", keys.Emails.ToArray());
        command.Parameters.AddWithValue("cookies", keys.Cookies.ToArray());
        command.Parameters.AddWithValue("leads", keys.LeadIds.ToArray());
        command.Parameters.AddWithValue("limit", limit);
        var events = new List<StoredWebhookEvent>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            events.Add(new StoredWebhookEvent(
                reader.GetInt64(0),
                reader.GetString(1),
                JsonNode.Parse(reader.GetString(2))!.AsObject(),
                reader.GetFieldValue<DateTimeOffset>(3),
                reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4)));
        }
        return events;
    });

    private static void AddCommon(NpgsqlCommand command, string projectId) => command.Parameters.AddWithValue("project", projectId);
}
