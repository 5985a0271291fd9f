using System.Globalization;
using System.Text.Json.Nodes;
using Npgsql;

namespace KarteMarketo.IntegrationTests.Cluster.Reliability;

/// <summary>A write the test expects at KARTE because the service accepted its cause: an identify (any user-info write
/// of the user that carries a lead) or a Marketo webhook event (<paramref name="Seq"/> is its <c>seq</c> value).</summary>
public sealed record ExpectedKarteWrite(string UserId, string EventName, string? Seq = null)
{
    public override string ToString() => Seq is null ? $"{EventName} of {UserId}" : $"{EventName} {Seq} of {UserId}";
}

/// <summary>
/// Compares what the KARTE stand-in received with what the service queued (the project's KARTE outbox rows, read from
/// PostgreSQL: user, event name, values, status, <c>possible_duplicate</c>), with its status API
/// (<c>GET …/karte-writes</c>) and with what the test expects from the causes it got accepted:
/// <list type="bullet">
/// <item>every expected write is queued, delivered and received;</item>
/// <item>a write received more often than it was queued (KARTE is not idempotent) comes from a row flagged
/// <c>possibleDuplicate</c>: the service resent it after a crash and said so;</item>
/// <item>nothing is received that was never queued;</item>
/// <item>each user's writes were first received in the order they were queued, and the last one received is the last
/// queued (KARTE keeps the latest user info).</item>
/// </list>
/// </summary>
public static class KarteWriteCheck
{
    public static async Task<KarteCheck> RunAsync(string connectionString, ThreeHostCluster cluster, string projectId, KarteStandInClient karte,
        IReadOnlyCollection<ExpectedKarteWrite> expected)
    {
        var rows = await RowsAsync(connectionString, projectId);
        // The stand-in is read after the rows: a row delivered by then was received before.
        var received = await karte.ReceivedAsync();
        var api = await cluster.GetAdminAsync($"/v1/projects/{projectId}/karte-writes?limit=1000");

        var rowsByContent = rows.GroupBy(r => r.Content).ToDictionary(g => g.Key, g => g.ToList());
        var receivedByContent = received.Events.Where(e => e.UserId is not null)
            .GroupBy(e => Content(e.UserId!, e.EventName, e.Values)).ToDictionary(g => g.Key, g => g.ToList());

        var problems = new List<string>();
        var missing = new List<string>();
        var unflagged = new List<string>();
        var unexpected = new List<string>();
        var order = new List<string>();
        var repeats = 0;

        foreach (var failed in rows.Where(r => r.Status == "failed"))
            problems.Add($"row {failed.Id} ({failed.EventName} of {failed.UserId}) failed: {failed.Error}");
        foreach (var (content, got) in receivedByContent)
        {
            if (!rowsByContent.TryGetValue(content, out var queued))
            {
                unexpected.Add($"{got[0].EventName} of {got[0].UserId} (sequence {got[0].Sequence}) was never queued");
                continue;
            }
            var extra = got.Count - queued.Count;
            if (extra <= 0) continue;
            repeats += extra;
            if (!queued.Any(r => r.PossibleDuplicate))
                unflagged.Add($"{got[0].EventName} of {got[0].UserId} received {got.Count}× (sequences {string.Join(",", got.Select(g => g.Sequence))}) " +
                              $"from row(s) {string.Join(",", queued.Select(r => r.Id))} not flagged possibleDuplicate");
        }
        var delivered = rows.Where(r => r.Status == "delivered").ToList();
        foreach (var row in delivered.Where(r => !receivedByContent.ContainsKey(r.Content)))
            problems.Add($"row {row.Id} ({row.EventName} of {row.UserId}) is delivered but KARTE never received it");

        var expectedReceived = 0;
        var notReceived = new HashSet<ExpectedKarteWrite>();
        var rowsByUser = rows.ToLookup(r => r.UserId);
        foreach (var want in expected)
        {
            var candidates = rowsByUser[want.UserId].Where(r => r.EventName == want.EventName &&
                                             (want.Seq is null ? r.Values["marketo"] is JsonObject : (string?)r.Values["seq"] == want.Seq)).ToList();
            if (candidates.Any(r => receivedByContent.ContainsKey(r.Content)))
            {
                expectedReceived++;
                continue;
            }
            notReceived.Add(want);
            missing.Add(candidates.Count == 0 ? $"{want}: never queued"
                : $"{want}: queued, {string.Join("/", candidates.Select(c => $"row {c.Id} {c.Status} after {c.Attempts} attempt(s) {c.Error}"))}");
        }

        foreach (var user in rows.Where(r => r.Status == "delivered").GroupBy(r => r.UserId))
        {
            var queuedOrder = user.OrderBy(r => r.Id).Select(r => r.Content).Distinct().ToList();
            var firsts = received.Events.Where(e => e.UserId == user.Key).Select(e => Content(e.UserId!, e.EventName, e.Values))
                .Where(c => queuedOrder.Contains(c)).Distinct().ToList();
            if (!firsts.SequenceEqual(queuedOrder))
            {
                order.Add($"user {user.Key}: received first in the order {string.Join(" ", firsts.Select(c => Short(rowsByContent[c][0])))}, " +
                          $"queued {string.Join(" ", queuedOrder.Select(c => Short(rowsByContent[c][0])))}");
                continue;
            }
            var last = received.Events.LastOrDefault(e => e.UserId == user.Key);
            if (last is not null && Content(last.UserId!, last.EventName, last.Values) != queuedOrder[^1])
                order.Add($"user {user.Key}: the last write received (sequence {last.Sequence}, {last.EventName}) is not the last queued ({Short(rowsByContent[queuedOrder[^1]][0])})");
        }

        var pending = rows.Count(r => r.Status is "pending" or "in_flight");
        if (api is null) problems.Add("no host answered GET karte-writes");
        else
        {
            var counts = api["counts"]!;
            if ((long)counts["pending"]! != pending || (long)counts["delivered"]! != delivered.Count ||
                (long)counts["failed"]! != rows.Count(r => r.Status == "failed"))
                problems.Add($"karte-writes counts {counts.ToJsonString()} differ from the rows (pending {pending}, delivered {delivered.Count})");
            if (rows.Count <= 1000)
            {
                var apiFlagged = api["writes"]!.AsArray().Count(w => (bool?)w!["possibleDuplicate"] == true);
                if (apiFlagged != rows.Count(r => r.PossibleDuplicate))
                    problems.Add($"karte-writes shows {apiFlagged} writes flagged possibleDuplicate, the rows {rows.Count(r => r.PossibleDuplicate)}");
            }
            if ((bool?)api["paused"] == true) problems.Add($"KARTE writes paused: {(string?)api["pausedReason"]}");
        }

        return new KarteCheck(rows.Count, delivered.Count, pending, rows.Count(r => r.PossibleDuplicate), expected.Count, expectedReceived,
            received.Events.Count, repeats, received.Repeats, received.MaxRequestsPerSecond, missing, unflagged, unexpected, order, problems, rows, received)
        {
            NotReceived = notReceived,
        };
    }

    /// <summary>The project's KARTE outbox rows in id order (the order they were queued).</summary>
    public static async Task<List<KarteRow>> RowsAsync(string connectionString, string projectId)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            SELECT id, user_id, payload::text, status, possible_duplicate, attempts, error_message, holder
            FROM outbox_messages WHERE project_id = @p AND kind = 'karte' ORDER BY id
            """, connection);
        command.Parameters.AddWithValue("p", projectId);
        var rows = new List<KarteRow>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var payload = JsonNode.Parse(reader.GetString(2))!.AsObject();
            var name = (string?)payload["event_name"] ?? "identify";
            var values = payload["values"] as JsonObject ?? [];
            var user = reader.IsDBNull(1) ? "" : reader.GetString(1);
            rows.Add(new KarteRow(reader.GetInt64(0), user, name, values, reader.GetString(3), reader.GetBoolean(4), reader.GetInt32(5),
                reader.IsDBNull(6) ? null : reader.GetString(6), reader.IsDBNull(7) ? null : reader.GetString(7), Content(user, name, values)));
        }
        return rows;
    }

    /// <summary>Silo names (<c>127.0.0.1:port@generation</c>) holding in-flight KARTE rows of the project right now, with
    /// how many rows each holds.</summary>
    public static async Task<Dictionary<string, int>> HoldersAsync(string connectionString, string projectId)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            SELECT holder, count(*)::int FROM outbox_messages
            WHERE project_id = @p AND kind = 'karte' AND status = 'in_flight' AND holder IS NOT NULL
            GROUP BY holder
            """, connection);
        command.Parameters.AddWithValue("p", projectId);
        var holders = new Dictionary<string, int>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) holders[reader.GetString(0)] = reader.GetInt32(1);
        return holders;
    }

    /// <summary>One write, whatever the member order of its values: the stand-in's own rule for <c>repeatOf</c>.</summary>
    public static string Content(string userId, string eventName, JsonObject values) =>
        KarteMarketo.MarketoSandbox.Karte.KarteStandIn.ContentKey(userId, null, eventName, values);

    private static string Short(KarteRow row) =>
        row.EventName + ((string?)row.Values["seq"] is { } seq ? ":" + seq : "") + "#" + row.Id.ToString(CultureInfo.InvariantCulture);
}

/// <summary>One KARTE outbox row.</summary>
public sealed record KarteRow(long Id, string UserId, string EventName, JsonObject Values, string Status, bool PossibleDuplicate, int Attempts,
    string? Error, string? Holder, string Content);

/// <summary>What <see cref="KarteWriteCheck"/> found.</summary>
public sealed record KarteCheck(int Rows, int Delivered, int Pending, int Flagged, int Expected, int ExpectedReceived, int Received,
    int Repeats, long StandInRepeats, int MaxRequestsPerSecond, IReadOnlyList<string> Missing, IReadOnlyList<string> UnflaggedRepeats,
    IReadOnlyList<string> Unexpected, IReadOnlyList<string> OrderViolations, IReadOnlyList<string> Problems,
    IReadOnlyList<KarteRow> RowList, KarteReceived Listing)
{
    /// <summary>The expected writes KARTE has not received (yet).</summary>
    public IReadOnlySet<ExpectedKarteWrite> NotReceived { get; init; } = new HashSet<ExpectedKarteWrite>();

    /// <summary>Everything queued is delivered and every expected write arrived.</summary>
    public bool Complete => Pending == 0 && Missing.Count == 0;

    /// <summary>Nothing wrong apart from writes not there yet.</summary>
    public bool Sound => UnflaggedRepeats.Count == 0 && Unexpected.Count == 0 && OrderViolations.Count == 0 && Problems.Count == 0;

    public string Describe() =>
        $"KARTE: rows {Rows} (delivered {Delivered}, pending {Pending}, flagged possibleDuplicate {Flagged}), expected {Expected} " +
        $"(received {ExpectedReceived}), received {Received} events, repeats {Repeats} (stand-in {StandInRepeats}), max {MaxRequestsPerSecond}/s; " +
        $"missing {Missing.Count}: {string.Join("; ", Missing.Take(5))}; unflagged repeats {UnflaggedRepeats.Count}: {string.Join("; ", UnflaggedRepeats.Take(5))}; " +
        $"unexpected {Unexpected.Count}: {string.Join("; ", Unexpected.Take(3))}; order {OrderViolations.Count}: {string.Join("; ", OrderViolations.Take(3))}; " +
        $"problems {Problems.Count}: {string.Join("; ", Problems.Take(5))}";
}
