using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace KarteMarketo.IntegrationTests.Cluster.Reliability;

/// <summary>What one request to the front door came to.</summary>
public enum Answer
{
    /// <summary>2xx: the service promised to apply it.</summary>
    Accepted,
    /// <summary>5xx with <c>application/problem+json</c>: a clear "not now".</summary>
    Problem,
    /// <summary>No HTTP answer: refused or cut connection (the host is dead or dying).</summary>
    ConnectionFailed,
    /// <summary>Anything else: a 4xx, a 5xx without problem+json, a client-side time-out. Always a test failure.</summary>
    Unclear,
}

/// <summary>One request sent by the test.</summary>
public sealed record Sent(string Kind, string Key, int Host, Answer Answer, int? Status, string? Detail, DateTimeOffset At)
{
    /// <summary>When the answer (or the failure) came.</summary>
    public DateTimeOffset Ended { get; init; } = DateTimeOffset.UtcNow;

    /// <summary>The users of an identify batch (<see cref="ReliabilityProject.IdentifyBatch"/> above 1); else null.</summary>
    public IReadOnlyList<string>? Users { get; init; }
}

/// <summary>
/// One project of the reliability tests on its own <see cref="MarketoInstance"/>: seeds leads, sends identify events,
/// KARTE webhooks and lead upserts to chosen hosts, keeps a ledger of every answer, and checks afterwards that every
/// accepted request was applied exactly once (counted at the sandbox) and that the limits held.
/// </summary>
public sealed class ReliabilityProject(string id, MarketoInstance marketo)
{
    public const string ActivityEvent = "purchase";
    public const string CustomField = "karteScore";

    /// <summary>The event name of the Marketo webhooks sent to a project that writes to KARTE.</summary>
    public const string MarketoEvent = "marketo_email_click";

    private readonly ConcurrentQueue<Sent> ledger = new();
    private readonly List<(string Email, long LeadId)> seeded = [];
    private int nextIdentify;
    private int nextActivity;
    private int nextLead;
    private int nextMarketoWebhook;
    private int activityTypeId;
    private KarteStandInClient? karte;

    public string Id { get; } = id;

    /// <summary>Users per identify request: 1 sends one event (checked user by user), more sends an array of that many
    /// new users (checked through the synced segment, see <see cref="SyncWatch"/>).</summary>
    public int IdentifyBatch { get; init; } = 1;

    /// <summary>The project's <c>realtimeSync.batchDelayMilliseconds</c>.</summary>
    public int RealtimeBatchDelayMilliseconds { get; init; } = 500;

    /// <summary>Set: the project writes to KARTE (the sandbox process's stand-in at <c>/karte</c>) at most this many calls
    /// a second, the load adds Marketo webhooks, and <see cref="VerifyAsync"/> checks what KARTE received.</summary>
    public int? KarteRequestsPerSecond { get; init; }

    /// <summary>The KARTE stand-in this project writes to, or null when it does not write to KARTE.</summary>
    public KarteStandInClient? Karte => KarteRequestsPerSecond is null ? null : karte ??= new KarteStandInClient(Marketo.BaseAddress);

    /// <summary>The project's webhook secret (Marketo webhooks).</summary>
    public string WebhookSecret { get; private set; } = "";

    /// <summary>When each user was first seen in the synced segment (polled by <see cref="WatchSyncAsync"/>).</summary>
    public ConcurrentDictionary<string, DateTimeOffset> SyncWatch { get; } = new(StringComparer.Ordinal);
    public MarketoInstance Marketo { get; } = marketo;
    public string ApiKey { get; private set; } = "";
    public IReadOnlyCollection<Sent> Ledger => ledger;

    /// <summary>Quota violations seen by <see cref="SampleQuotaAsync"/>: our count for the day below the sandbox's.</summary>
    public ConcurrentQueue<string> QuotaViolations { get; } = new();
    public int QuotaSamples;

    /// <summary>Seeds <paramref name="leads"/> leads (the lookup and activity targets), the custom field and the
    /// activity type at the sandbox; again after a sandbox restart (same order, so the same lead ids).</summary>
    public async Task SeedMarketoAsync(int leads, bool parallel)
    {
        if (!parallel || seeded.Count > 0)
        {
            await SeedMarketoAsync(leads);
            return;
        }
        await Marketo.AddFieldAsync(CustomField, "integer");
        activityTypeId = await Marketo.AddActivityTypeAsync("karte_purchase", "item_name");
        var ids = new long[leads];
        await Parallel.ForEachAsync(Enumerable.Range(0, leads), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
            ids[i] = await Marketo.SeedLeadAsync($"{Id}-{i}@seeded.example", new JsonObject { ["firstName"] = $"Seed{i}", [CustomField] = i }));
        for (var i = 0; i < leads; i++) seeded.Add(($"{Id}-{i}@seeded.example", ids[i]));
    }

    public async Task SeedMarketoAsync(int leads)
    {
        await Marketo.AddFieldAsync(CustomField, "integer");
        activityTypeId = await Marketo.AddActivityTypeAsync("karte_purchase", "item_name");
        var again = seeded.Count > 0;
        for (var i = 0; i < leads; i++)
        {
            var email = $"{Id}-{i}@seeded.example";
            var leadId = await Marketo.SeedLeadAsync(email, new JsonObject
            {
                ["firstName"] = $"Seed{i}",
                [CustomField] = i,
            });
            if (!again) seeded.Add((email, leadId));
            else if (seeded[i].LeadId != leadId)
                throw new InvalidOperationException($"re-seeded lead {email} got id {leadId}, was {seeded[i].LeadId}");
        }
    }

    public JsonObject Settings() => new()
    {
        ["marketo"] = new JsonObject
        {
            ["clientId"] = "sandbox-client",
            ["clientSecret"] = "sandbox-secret",
            ["endpoint"] = new Uri(Marketo.BaseAddress, "rest").ToString(),
            ["identity"] = new Uri(Marketo.BaseAddress, "identity").ToString(),
            ["customFields"] = new JsonArray(CustomField),
        },
        // The periodic sync is what retries lookups that failed or were deferred: every minute here.
        ["periodicSync"] = new JsonObject { ["enabled"] = true, ["intervalMinutes"] = 1 },
        ["realtimeSync"] = new JsonObject { ["enabled"] = true, ["keys"] = new JsonArray("email"), ["batchDelayMilliseconds"] = RealtimeBatchDelayMilliseconds },
        ["activityMappings"] = new JsonArray(new JsonObject
        {
            ["event"] = ActivityEvent,
            ["activityTypeId"] = activityTypeId,
            ["primaryAttribute"] = "item_name",
        }),
        ["karte"] = Karte?.Settings(KarteRequestsPerSecond!.Value),
    };

    public async Task CreateAsync(ThreeHostCluster cluster)
    {
        var created = await cluster.PutProjectSettingsAsync(Id, Settings());
        ApiKey = (string)created["apiKey"]!;
        WebhookSecret = (string)created["webhookSecret"]!;
        if (Karte is not null && (string?)created["karteConnection"] != "ok")
            throw new InvalidOperationException($"{Id}: the KARTE stand-in refused the token check: {created["karteConnection"]}");
    }

    /// <summary>One identify event for a new user with the next seeded email (each user its own lead).</summary>
    public Task SendIdentifyAsync(ThreeHostCluster cluster, int host)
    {
        if (IdentifyBatch > 1) return SendIdentifyBatchAsync(cluster, host);
        var n = Interlocked.Increment(ref nextIdentify) - 1;
        var (email, _) = seeded[n % seeded.Count];
        var userId = $"{Id}-u{n}";
        var body = new JsonObject { ["userId"] = userId, ["event"] = "identify", ["values"] = new JsonObject { ["email"] = email } };
        return SendAsync(cluster, host, "identify", userId, $"/v1/projects/{Id}/events", body, null);
    }

    /// <summary><see cref="IdentifyBatch"/> identify events of new users in one request (each user the next seeded email).</summary>
    private Task SendIdentifyBatchAsync(ThreeHostCluster cluster, int host)
    {
        var first = Interlocked.Add(ref nextIdentify, IdentifyBatch) - IdentifyBatch;
        var users = new List<string>();
        var body = new JsonArray();
        for (var n = first; n < first + IdentifyBatch; n++)
        {
            var userId = $"{Id}-u{n}";
            users.Add(userId);
            body.Add(new JsonObject { ["userId"] = userId, ["event"] = "identify", ["values"] = new JsonObject { ["email"] = seeded[n % seeded.Count].Email } });
        }
        return SendAsync(cluster, host, "identify", $"{Id}-u{first}+{IdentifyBatch}", $"/v1/projects/{Id}/events", body, null, users);
    }

    /// <summary>Polls the synced segment until cancelled and records when each user first appears in it.</summary>
    public async Task WatchSyncAsync(ThreeHostCluster cluster, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await ReadSyncedAsync(cluster);
                await timer.WaitForNextTickAsync(stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Reads the whole synced segment once, recording users seen for the first time; returns all of them.</summary>
    public async Task<HashSet<string>> ReadSyncedAsync(ThreeHostCluster cluster)
    {
        var now = DateTimeOffset.UtcNow;
        var all = new HashSet<string>(StringComparer.Ordinal);
        string? after = null;
        do
        {
            var page = await cluster.GetAdminAsync($"/v1/projects/{Id}/segments/marketo-lead-synced?limit=1000" +
                (after is null ? "" : "&after=" + Uri.EscapeDataString(after)));
            if (page is null) return all;  // no host answered this time: the next poll reads again
            foreach (var user in page["users"]!.AsArray()) all.Add((string)user!);
            after = (string?)page["next"];
        }
        while (after is not null);
        foreach (var user in all) SyncWatch.TryAdd(user, now);
        return all;
    }

    /// <summary>Identify → synced latencies of the users accepted in [<paramref name="from"/>, <paramref name="to"/>)
    /// (by when their request was answered): one per user, from <see cref="SyncWatch"/>; users never seen synced are left
    /// out, and so are users whose lead an earlier user already looked up (they are synced from the key at once).</summary>
    public List<TimeSpan> SyncLatencies(DateTimeOffset from, DateTimeOffset to) => SyncLatencies(s => s.Ended >= from && s.Ended < to);

    /// <summary>The same for the accepted identify requests that <paramref name="which"/> selects.</summary>
    public List<TimeSpan> SyncLatencies(Func<Sent, bool> which) =>
        [.. ledger.Where(s => s.Kind == "identify" && s.Answer == Answer.Accepted && which(s))
            .SelectMany(s => (s.Users ?? [s.Key]).Where(IsFirstOfItsLead)
                .Select(u => SyncWatch.TryGetValue(u, out var at) ? at - s.Ended : (TimeSpan?)null))
            .Where(t => t is not null).Select(t => t!.Value < TimeSpan.Zero ? TimeSpan.Zero : t.Value)];

    /// <summary>User <c>{id}-u{n}</c> is the first to identify with its seeded email (n below the number of leads).</summary>
    private bool IsFirstOfItsLead(string userId) =>
        int.Parse(userId[(userId.LastIndexOf('u') + 1)..], System.Globalization.CultureInfo.InvariantCulture) < seeded.Count;

    /// <summary>One KARTE webhook of a mapped event; its delivery id is also the activity's primary attribute, so the
    /// sandbox's activities say which delivery they came from.</summary>
    public Task SendActivityAsync(ThreeHostCluster cluster, int host)
    {
        var n = Interlocked.Increment(ref nextActivity) - 1;
        var deliveryId = $"{Id}-a{n}";
        var body = new JsonObject
        {
            ["id"] = deliveryId,
            ["email"] = seeded[n % seeded.Count].Email,
            ["event"] = ActivityEvent,
            ["values"] = new JsonObject { ["item_name"] = deliveryId },
        };
        return SendAsync(cluster, host, "activity", deliveryId, $"/v1/projects/{Id}/webhooks/karte", body, null);
    }

    /// <summary>
    /// One Marketo webhook (an email click) about the lead of the latest user accepted so far, so that it finds a linked
    /// user; <c>seq</c> names it among the KARTE writes. The users its <c>200</c> names are those it is to be written for.
    /// </summary>
    public Task SendMarketoWebhookAsync(ThreeHostCluster cluster, int host)
    {
        var n = Interlocked.Increment(ref nextMarketoWebhook) - 1;
        var seq = $"{Id}-m{n}";
        var latest = ledger.LastOrDefault(s => s.Kind == "identify" && s.Answer == Answer.Accepted);
        var user = latest is null ? 0 : int.Parse(latest.Key[(latest.Key.LastIndexOf('u') + 1)..].Split('+')[0], System.Globalization.CultureInfo.InvariantCulture);
        var body = new JsonObject
        {
            ["email"] = seeded[user % seeded.Count].Email,
            ["event_name"] = MarketoEvent,
            ["seq"] = seq,
            ["campaign"] = "reliability",
        };
        return SendAsync(cluster, host, "marketo-webhook", seq, $"/v1/projects/{Id}/webhooks/marketo", body, null, webhookSecret: WebhookSecret);
    }

    /// <summary>One lead upsert of a new email, with an Idempotency-Key (its delivery id).</summary>
    public Task SendLeadAsync(ThreeHostCluster cluster, int host)
    {
        var n = Interlocked.Increment(ref nextLead) - 1;
        var email = $"{Id}-l{n}@leads.example";
        var body = new JsonObject { ["userId"] = $"{Id}-lu{n}", ["email"] = email, ["fields"] = new JsonObject { ["firstName"] = $"Lead{n}" } };
        return SendAsync(cluster, host, "lead", email, $"/v1/projects/{Id}/leads", body, $"{Id}-l{n}");
    }

    private async Task SendAsync(ThreeHostCluster cluster, int host, string kind, string key, string path, JsonNode body, string? idempotencyKey,
        IReadOnlyList<string>? users = null, string? webhookSecret = null)
    {
        var at = DateTimeOffset.UtcNow;
        // Generous: the service must answer (2xx or a problem) long before this.
        using var http = new HttpClient { BaseAddress = cluster.BaseAddressOf(host), Timeout = TimeSpan.FromSeconds(90) };
        using var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        if (webhookSecret is not null) request.Headers.Add("X-Webhook-Secret", webhookSecret);
        else request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        try
        {
            using var response = await http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            var status = (int)response.StatusCode;
            var problem = response.Content.Headers.ContentType?.MediaType == "application/problem+json";
            var answer = status is >= 200 and < 300 ? Answer.Accepted
                : status >= 500 && problem ? Answer.Problem
                : Answer.Unclear;
            // A Marketo webhook's 200 names the users its event is recorded (and to be written to KARTE) for.
            if (kind == "marketo-webhook" && answer == Answer.Accepted)
                users = [.. (JsonNode.Parse(text)?["users"]?.AsArray() ?? []).Select(u => (string)u!)];
            ledger.Enqueue(new Sent(kind, key, host, answer, status, answer == Answer.Accepted ? null : Shorten(text), at) { Users = users });
        }
        catch (HttpRequestException ex)
        {
            ledger.Enqueue(new Sent(kind, key, host, Answer.ConnectionFailed, null, ex.Message, at) { Users = users });
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            // A connection to a host killed just then: HttpClient reads the new socket's remote address before sending
            // anything, and a peer already gone makes that read throw unwrapped ("Transport endpoint is not connected").
            // Nothing was sent, as with a refused connection.
            ledger.Enqueue(new Sent(kind, key, host, Answer.ConnectionFailed, null, ex.Message, at) { Users = users });
        }
        catch (TaskCanceledException ex)
        {
            ledger.Enqueue(new Sent(kind, key, host, Answer.Unclear, null, "client time-out: " + ex.Message, at) { Users = users });
        }
    }

    private static string Shorten(string text) => text.Length > 300 ? text[..300] : text;

    /// <summary>Reads the sandbox's count first, then ours: every call the sandbox counted was permitted (and reserved)
    /// before it was made, so ours must be at least as high whatever happens in between.</summary>
    public async Task SampleQuotaAsync(ThreeHostCluster cluster)
    {
        if (!Marketo.IsRunning) return;
        int sandboxUsed;
        try
        {
            sandboxUsed = await Marketo.UsedTodayAsync();
        }
        catch (Exception ex) when (ex is HttpRequestException or System.Net.Sockets.SocketException)
        {
            return; // being stopped
        }
        var quota = await cluster.GetAdminAsync($"/v1/projects/{Id}/quota");
        if (quota is null) return; // no host could answer right now (one is being killed)
        Interlocked.Increment(ref QuotaSamples);
        var used = (int)quota["used"]!;
        if (used < sandboxUsed) QuotaViolations.Enqueue($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} ours {used} < sandbox {sandboxUsed}");
    }

    /// <summary>Where the accepted requests stand now.</summary>
    public async Task<Verification> VerifyAsync(ThreeHostCluster cluster, bool quotaExhausted = false)
    {
        var counters = await Marketo.AllCountersAsync();
        var activityCounts = counters.SelectMany(c => c["activitiesAdded"]!.AsArray())
            .GroupBy(a => (string)a!["primaryAttributeValue"]!).ToDictionary(g => g.Key, g => g.Count());
        var leadCounts = counters.SelectMany(c => c["leadsSynced"]!.AsArray())
            .Where(s => (string)s!["status"]! is "created" or "updated")
            .GroupBy(s => ((string?)s!["input"]!["email"])?.ToLowerInvariant() ?? "").ToDictionary(g => g.Key, g => g.Count());
        var breaches = counters.Sum(c => c["breaches"]!.AsArray().Count);
        var maxWindow = counters.Max(c => (int)c["maxCallsInWindow"]!);
        var maxInFlight = counters.Max(c => (int)c["maxInFlight"]!);

        var accepted = ledger.Where(s => s.Answer == Answer.Accepted).ToList();
        // Identify batches are checked through the synced segment: one read for every user.
        var synced = accepted.Any(s => s.Kind == "identify" && s.Users is not null) || Karte is not null ? await ReadSyncedAsync(cluster) : null;
        var missing = new List<string>();
        var kept = new List<string>();
        var duplicates = 0;
        var duplicateIds = new List<string>();
        var delivered = 0;

        HashSet<string>? pendingActivities = null, pendingLeads = null, failedRows = null;
        if (quotaExhausted)
        {
            pendingActivities = await DeliveryIdsAsync(cluster, "activities", "pending");
            pendingLeads = await DeliveryIdsAsync(cluster, "leads", "pending");
        }
        failedRows = [.. await DeliveryIdsAsync(cluster, "activities", "failed"), .. await DeliveryIdsAsync(cluster, "leads", "failed")];
        var karteCheck = Karte is null ? null : await CheckKarteAsync(cluster, accepted, synced!);

        foreach (var sent in accepted)
        {
            switch (sent.Kind)
            {
                case "activity":
                {
                    var count = activityCounts.GetValueOrDefault(sent.Key);
                    if (count >= 1) delivered++;
                    if (count > 1) { duplicates += count - 1; duplicateIds.Add(sent.Key); }
                    if (count == 0)
                    {
                        if (pendingActivities?.Contains(sent.Key) == true) kept.Add(sent.Key);
                        else missing.Add($"activity {sent.Key}{(failedRows.Contains(sent.Key) ? " (failed)" : "")}");
                    }
                    break;
                }
                case "lead":
                {
                    var count = leadCounts.GetValueOrDefault(sent.Key);
                    if (count >= 1) delivered++;
                    var deliveryId = sent.Key.Replace("@leads.example", "", StringComparison.Ordinal);
                    if (count > 1) { duplicates += count - 1; duplicateIds.Add(deliveryId); }
                    if (count == 0)
                    {
                        if (pendingLeads?.Contains(deliveryId) == true) kept.Add(sent.Key);
                        else missing.Add($"lead {sent.Key}{(failedRows.Contains(deliveryId) ? " (failed)" : "")}");
                    }
                    break;
                }
                case "identify" when sent.Users is not null:
                {
                    var notSynced = sent.Users.Where(u => !synced!.Contains(u)).ToList();
                    delivered += sent.Users.Count - notSynced.Count;
                    foreach (var user in notSynced)
                    {
                        var view = missing.Count < 10 ? await cluster.GetAdminAsync($"/v1/projects/{Id}/users/{user}") : null;
                        missing.Add($"user {user}: not in the synced segment; lastResult {(string?)view?["sync"]?["lastResult"] ?? "?"}, " +
                            $"lastError {(string?)view?["sync"]?["lastError"]}");
                    }
                    break;
                }
                case "marketo-webhook" when karteCheck is not null:
                {
                    var notWritten = sent.Users!.Where(u => karteCheck.NotReceived.Contains(new ExpectedKarteWrite(u, MarketoEvent, sent.Key))).ToList();
                    if (notWritten.Count == 0) delivered++;
                    else missing.Add($"marketo webhook {sent.Key}: not at KARTE for {string.Join(", ", notWritten)}");
                    break;
                }
                case "identify":
                {
                    var user = await cluster.GetAdminAsync($"/v1/projects/{Id}/users/{sent.Key}");
                    var n = int.Parse(sent.Key[(sent.Key.LastIndexOf('u') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
                    var expected = seeded[n % seeded.Count].LeadId;
                    var leadId = (long?)user?["identify"]?["marketo"]?["id"];
                    var result = (string?)user?["sync"]?["lastResult"];
                    if (leadId == expected && result == "synced") delivered++;
                    else if (quotaExhausted && user is not null && result is "deferred" or "pending" or "failed") kept.Add(sent.Key);
                    else missing.Add($"user {sent.Key}: lead {leadId?.ToString() ?? "none"} (want {expected}), lastResult {result ?? "(no user)"}, " +
                        $"lastError {(string?)user?["sync"]?["lastError"]}");
                    break;
                }
            }
        }
        if (karteCheck is not null)
        {
            // Synced users whose user info never reached KARTE (webhook events are counted above, per request).
            missing.AddRange(karteCheck.Missing.Where(m => m.StartsWith(UserInfoEvent + " ", StringComparison.Ordinal)).Select(m => "KARTE " + m));
            if (karteCheck.Pending > 0) missing.Add($"KARTE: {karteCheck.Pending} writes still pending");
        }
        // What the outbox says of each missing row (status, attempts, error, next attempt), for the failure message.
        if (missing.Count > 0 && missing.Count <= 20)
        {
            for (var i = 0; i < missing.Count; i++)
            {
                var parts = missing[i].Split(' ');
                if (parts[0] is not ("activity" or "lead")) continue;
                var what = parts[0] == "activity" ? "activities" : "leads";
                var id = parts[1].Replace("@leads.example", "", StringComparison.Ordinal);
                var rows = (await cluster.GetAdminAsync($"/v1/projects/{Id}/{what}?limit=1000"))?[what]?.AsArray() ?? [];
                var row = rows.FirstOrDefault(r => (string?)r!["deliveryId"] == id);
                missing[i] += $" [row {row?.ToJsonString() ?? "not found"}]";
            }
        }
        return new Verification(ledger.Count, accepted.Count, delivered, duplicates, duplicateIds, breaches, maxWindow, maxInFlight, missing, kept,
            ledger.Count(s => s.Answer == Answer.Unclear),
            [.. ledger.Where(s => s.Answer != Answer.Accepted).OrderBy(s => s.Answer == Answer.Unclear ? 0 : 1)
                .Select(s => $"{s.Kind} {s.Key} host {s.Host} {s.Answer} {s.Status} {s.At:HH:mm:ss.fff}-{s.Ended:HH:mm:ss.fff} {s.Detail}").Take(4)],
            accepted.Where(s => s.Kind != "marketo-webhook").Sum(s => s.Users?.Count ?? 1) + accepted.Count(s => s.Kind == "marketo-webhook"))
        {
            Karte = karteCheck,
        };
    }

    private const string UserInfoEvent = "identify";

    /// <summary>
    /// What KARTE must have received for the accepted causes: an <c>identify</c> for every accepted user now in the
    /// synced segment, and each accepted Marketo webhook's event for every user its <c>200</c> named.
    /// </summary>
    private async Task<KarteCheck> CheckKarteAsync(ThreeHostCluster cluster, List<Sent> accepted, HashSet<string> synced)
    {
        var expected = new List<ExpectedKarteWrite>();
        foreach (var sent in accepted)
        {
            if (sent.Kind == "identify")
                expected.AddRange((sent.Users ?? [sent.Key]).Where(synced.Contains).Select(u => new ExpectedKarteWrite(u, UserInfoEvent)));
            else if (sent.Kind == "marketo-webhook")
                expected.AddRange(sent.Users!.Select(u => new ExpectedKarteWrite(u, MarketoEvent, sent.Key)));
        }
        return await KarteWriteCheck.RunAsync(cluster.ConnectionString, cluster, Id, Karte!, expected);
    }

    /// <summary>Delivery ids of rows the service flagged as possibly sent twice (a crash between Marketo's answer and
    /// recording it): the only rows allowed to show up twice at the sandbox.</summary>
    public async Task<HashSet<string>> FlaggedDuplicatesAsync(ThreeHostCluster cluster)
    {
        var flagged = new HashSet<string>();
        foreach (var what in new[] { "activities", "leads" })
        {
            var list = await cluster.GetAdminAsync($"/v1/projects/{Id}/{what}?limit=1000");
            foreach (var row in list?[what]?.AsArray() ?? [])
                if ((bool?)row!["possibleDuplicate"] == true) flagged.Add((string?)row["deliveryId"] ?? "");
        }
        return flagged;
    }

    private async Task<HashSet<string>> DeliveryIdsAsync(ThreeHostCluster cluster, string what, string status)
    {
        var list = await cluster.GetAdminAsync($"/v1/projects/{Id}/{what}?status={status}&limit=1000");
        var rows = list?[what]?.AsArray() ?? [];
        return [.. rows.Select(r => (string?)r!["deliveryId"] ?? "")];
    }
}

/// <summary>What <see cref="ReliabilityProject.VerifyAsync"/> found.</summary>
public sealed record Verification(int Requests, int Accepted, int Delivered, int Duplicates, IReadOnlyList<string> DuplicateIds, int Breaches, int MaxInWindow, int MaxInFlight,
    IReadOnlyList<string> Missing, IReadOnlyList<string> KeptPending, int Unclear, IReadOnlyList<string> FailureSamples, int AcceptedItems = 0)
{
    /// <summary>Everything accepted is applied (or, where Marketo's day is over, kept pending).</summary>
    public bool Complete => Missing.Count == 0;

    /// <summary>What KARTE received, where the project writes to KARTE.</summary>
    public KarteCheck? Karte { get; init; }

    public string Describe() =>
        $"requests {Requests}, accepted {Accepted} ({AcceptedItems} items), delivered {Delivered}, kept {KeptPending.Count}, duplicates {Duplicates}, " +
        $"breaches {Breaches}, max/20s {MaxInWindow}, max in flight {MaxInFlight}, unclear {Unclear}; missing {Missing.Count}: " +
        string.Join("; ", Missing.Take(8)) + (FailureSamples.Count > 0 ? "; not accepted: " + string.Join(" | ", FailureSamples) : "") +
        (Karte is null ? "" : "; " + Karte.Describe());
}
