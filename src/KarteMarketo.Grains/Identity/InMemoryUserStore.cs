using KarteMarketo.Grains.Flows.KarteWriteBack;

namespace KarteMarketo.Grains.Identity;

/// <summary>The user table of the embedded default: memory only, lost on restart (the host says so at start-up).</summary>
/// <param name="karte">Where sync results with <see cref="UserSyncUpdate.Karte"/> queue their KARTE writes.</param>
public sealed class InMemoryUserStore(IKarteWriteQueue? karte = null) : IUserStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Project, string User), UserRow> _users = [];

    /// <summary>Each key's users in link order (the index <c>user_keys_by_key</c> is in PostgreSQL).</summary>
    private readonly Dictionary<(string Project, LeadKeyType Type, string Value), List<string>> _keyUsers = [];

    /// <summary>How many distinct keys of each type a project's users carry (entries of <see cref="_keyUsers"/>), kept
    /// as keys come and go so that a resync's estimate does not walk every key.</summary>
    private readonly Dictionary<(string Project, LeadKeyType Type), int> _distinctKeys = [];

    private sealed class UserRow(string userId)
    {
        public string UserId { get; } = userId;
        public List<UserKey> Keys { get; } = [];
        public string? IdentifyJson { get; set; }
        public long? LeadId { get; set; }
        public LeadKeyType? SyncedBy { get; set; }
        public DateTimeOffset? SyncedAt { get; set; }
        public string? Instance { get; set; }

        public void ClearLead()
        {
            IdentifyJson = UserSyncRules.WithoutLead(IdentifyJson);
            LeadId = null;
            SyncedBy = null;
            Instance = null;
        }
    }

    public Task<IReadOnlyList<string>> LinkKeyAsync(string projectId, string userId, LeadKeyType type, string value,
        CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var row = GetOrAdd(projectId, userId);
            var key = new UserKey(type, value);
            IReadOnlyList<string> replaced = [];
            if (LeadKeyPolicy.LatestKeyWins(type))
            {
                replaced = [.. row.Keys.Where(k => k.Type == type && k.Value != value).Select(k => k.Value)];
                if (replaced.Count > 0)
                {
                    row.Keys.RemoveAll(k => k.Type == type && k.Value != value);
                    foreach (var old in replaced) RemoveKeyUser(projectId, type, old, userId);
                    if (row.SyncedBy == type) row.ClearLead();
                }
            }
            if (!row.Keys.Contains(key))
            {
                row.Keys.Add(key);
                if (!_keyUsers.TryGetValue((projectId, type, value), out var keyUsers))
                {
                    _keyUsers[(projectId, type, value)] = keyUsers = [];
                    _distinctKeys[(projectId, type)] = _distinctKeys.GetValueOrDefault((projectId, type)) + 1;
                }
                keyUsers.Add(userId);
            }
            return Task.FromResult(replaced);
        }
    }

    public Task UnlinkKeyAsync(string projectId, string userId, LeadKeyType type, string value, long? leadId,
        CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_users.TryGetValue((projectId, userId), out var row) && row.Keys.Remove(new UserKey(type, value)))
            {
                RemoveKeyUser(projectId, type, value, userId);
                if (row.SyncedBy == type && leadId is not null && row.LeadId == leadId) row.ClearLead();
            }
        }
        return Task.CompletedTask;
    }

    private void RemoveKeyUser(string projectId, LeadKeyType type, string value, string userId)
    {
        if (!_keyUsers.TryGetValue((projectId, type, value), out var keyUsers)) return;
        keyUsers.Remove(userId);
        if (keyUsers.Count > 0) return;
        _keyUsers.Remove((projectId, type, value));
        _distinctKeys[(projectId, type)] -= 1;
    }

    public Task<IReadOnlyList<string>> ListUsersOfKeyAsync(string projectId, LeadKeyType type, string value, int limit,
        CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            IReadOnlyList<string> users = _keyUsers.TryGetValue((projectId, type, value), out var keyUsers)
                ? [.. keyUsers.Skip(Math.Max(0, keyUsers.Count - limit))]
                : [];
            return Task.FromResult(users);
        }
    }

    public Task<IReadOnlyList<string>> ClearLeadAsync(string projectId, IReadOnlyCollection<string> userIds, LeadKeyType syncedBy,
        CancellationToken cancellationToken = default)
    {
        var cleared = new List<string>();
        lock (_gate)
        {
            foreach (var userId in userIds)
            {
                if (!_users.TryGetValue((projectId, userId), out var row) || row.LeadId is null || row.SyncedBy != syncedBy) continue;
                row.ClearLead();
                cleared.Add(userId);
            }
        }
        return Task.FromResult<IReadOnlyList<string>>(cleared);
    }

    public Task<int> ForgetOtherInstancesAsync(string projectId, string instance, CancellationToken cancellationToken = default)
    {
        var count = 0;
        lock (_gate)
        {
            foreach (var (key, row) in _users)
            {
                if (key.Project != projectId || row.LeadId is null || row.Instance == instance) continue;
                row.ClearLead();
                count++;
            }
        }
        return Task.FromResult(count);
    }

    public Task<IReadOnlyList<string>> ListKeyValuesAsync(string projectId, LeadKeyType type, string? after, int limit,
        CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            IReadOnlyList<string> values = [.. _users.Where(kv => kv.Key.Project == projectId)
                .SelectMany(kv => kv.Value.Keys).Where(k => k.Type == type).Select(k => k.Value)
                .Where(v => after is null || string.CompareOrdinal(v, after) > 0)
                .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).Take(limit)];
            return Task.FromResult(values);
        }
    }

    public Task<int> CountKeyValuesAsync(string projectId, LeadKeyType type, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return Task.FromResult(_distinctKeys.GetValueOrDefault((projectId, type)));
        }
    }

    public Task<IReadOnlyList<UserKey>> GetKeysAsync(string projectId, string userId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            IReadOnlyList<UserKey> keys = _users.TryGetValue((projectId, userId), out var row) ? [.. row.Keys] : [];
            return Task.FromResult(keys);
        }
    }

    public Task<IReadOnlyList<string>> FindUsersByLeadIdAsync(string projectId, string instance, long leadId,
        CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            IReadOnlyList<string> users = [.. _users.Where(kv => kv.Key.Project == projectId && kv.Value.LeadId == leadId
                    && (kv.Value.Instance is null || kv.Value.Instance == instance))
                .Select(kv => kv.Key.User).Order(StringComparer.Ordinal)];
            return Task.FromResult(users);
        }
    }

    public Task<bool> ExistsAsync(string projectId, string userId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return Task.FromResult(_users.ContainsKey((projectId, userId)));
        }
    }

    public Task TouchUsersAsync(string projectId, IReadOnlyCollection<string> userIds, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            foreach (var userId in userIds) GetOrAdd(projectId, userId);
        }
        return Task.CompletedTask;
    }

    public async Task ApplySyncResultAsync(string projectId, IReadOnlyCollection<string> userIds, UserSyncUpdate update,
        CancellationToken cancellationToken = default)
    {
        var applied = new List<string>();
        lock (_gate)
        {
            foreach (var userId in userIds)
            {
                var row = GetOrAdd(projectId, userId);
                if (!LeadKeyPolicy.MayReplaceLead(row.SyncedBy, row.LeadId, update.SyncedBy)) continue;
                row.IdentifyJson = update.IdentifyJson;
                row.LeadId = update.LeadId;
                row.SyncedBy = update.SyncedBy;
                row.SyncedAt = update.SyncedAt;
                row.Instance = update.Instance;
                applied.Add(userId);
            }
        }
        // Queued before this returns, so a sync result is never stored without its KARTE write.
        if (karte is not null && update.Karte is { } write && applied.Count > 0)
        {
            var identify = System.Text.Json.Nodes.JsonNode.Parse(update.IdentifyJson)!.AsObject();
            await karte.EnqueueAsync(projectId,
                [.. applied.Where(KarteWritePayload.IsWritableUserId)
                    .Select(u => KarteQueuedWrite.UserInfo(u, identify, update.SyncedAt, write.OnlyOnChange))],
                update.SyncedAt, cancellationToken);
        }
    }

    public Task<StoredUserInfo?> GetUserInfoAsync(string projectId, string userId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return Task.FromResult(_users.TryGetValue((projectId, userId), out var row)
                ? new StoredUserInfo(row.UserId, row.IdentifyJson, row.LeadId, row.SyncedBy, row.SyncedAt)
                : null);
        }
    }

    public Task<SegmentPage> GetSegmentAsync(string projectId, UserSegment segment, int limit, string? after,
        CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var members = _users.Where(kv => kv.Key.Project == projectId && UserSyncRules.IsMember(segment, kv.Value.LeadId, kv.Value.SyncedBy))
                .Select(kv => kv.Key.User).Order(StringComparer.Ordinal).ToList();
            var page = members.Where(u => after is null || string.CompareOrdinal(u, after) > 0).Take(limit + 1).ToList();
            var next = page.Count > limit ? page[limit - 1] : null;
            if (page.Count > limit) page.RemoveAt(limit);
            return Task.FromResult(new SegmentPage(members.Count, page, next));
        }
    }

    private UserRow GetOrAdd(string projectId, string userId)
    {
        if (!_users.TryGetValue((projectId, userId), out var row))
        {
            row = new UserRow(userId);
            _users.Add((projectId, userId), row);
        }
        return row;
    }
}

/// <summary>The rules both user stores follow (beside <see cref="LeadKeyPolicy"/>, which decides between keys).</summary>
internal static class UserSyncRules
{
    /// <summary>User info without what a lead gave it (<c>marketo</c>, <c>marketo_hash</c>); null when nothing is left.</summary>
    public static string? WithoutLead(string? identifyJson)
    {
        if (identifyJson is null || System.Text.Json.Nodes.JsonNode.Parse(identifyJson) is not System.Text.Json.Nodes.JsonObject identify) return null;
        identify.Remove("marketo");
        identify.Remove("marketo_hash");
        return identify.Count == 0 ? null : identify.ToJsonString();
    }

    public static bool IsMember(UserSegment segment, long? leadId, LeadKeyType? syncedBy) => segment switch
    {
        UserSegment.MarketoLeadSynced => leadId is not null,
        UserSegment.MarketoCookieSynced => leadId is not null && syncedBy == LeadKeyType.Cookie,
        _ => false,
    };
}
