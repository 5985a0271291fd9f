using System.Text.Json;
using System.Text.Json.Nodes;

namespace KarteMarketo.MarketoSandbox;

/// <summary>
/// The sandbox's Marketo instance: leads, fields, activity types, API clients and tokens, the daily quota,
/// the rate and concurrency windows, and injected faults. All time comes from the <see cref="TimeProvider"/> given
/// at construction. Thread-safe. Tests seed and steer it directly; out-of-process callers use <c>/_sandbox/…</c>.
/// </summary>
public sealed partial class SandboxState
{
    private readonly Lock _gate = new();
    private readonly TimeZoneInfo _quotaZone;
    private readonly Dictionary<long, LeadRecord> _leads = [];
    private readonly Dictionary<string, SandboxFieldDefinition> _fields = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<int, SandboxActivityTypeDefinition> _activityTypes = [];
    private readonly Dictionary<string, string> _clients = new(StringComparer.Ordinal);
    private readonly HashSet<string> _failingFields = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<FaultSlot> _faults = [];
    private long _nextLeadId = 1;
    private long _nextActivityId = 1;
    private int _nextActivityTypeId = 100_001;
    private long _requestSequence = 10_000;

    /// <summary>Creates a sandbox instance from <paramref name="options"/>, on <paramref name="timeProvider"/> (system clock if null).</summary>
    public SandboxState(SandboxOptions? options = null, TimeProvider? timeProvider = null)
    {
        Options = options ?? new SandboxOptions();
        Time = timeProvider ?? TimeProvider.System;
        _quotaZone = TimeZoneInfo.FindSystemTimeZoneById(Options.QuotaTimeZoneId);
        DailyQuota = Options.DailyQuota;
        InitialiseCatalog();
    }

    /// <summary>The options the sandbox started with (limits may be changed later through this object too).</summary>
    public SandboxOptions Options { get; }

    /// <summary>The sandbox's clock.</summary>
    public TimeProvider Time { get; }

    /// <summary>What the sandbox saw (calls, peaks, breaches, writes).</summary>
    public SandboxCounters Counters { get; } = new();

    // ---------------------------------------------------------------- leads

    /// <summary>Adds a lead with <paramref name="email"/> and optional field values (REST names; values are converted
    /// to JSON). Returns the new lead's id. Field values are stored as given (no type check): seeding is the test's word.</summary>
    public long SeedLead(string email, params (string Field, object? Value)[] fields)
    {
        var now = Time.GetUtcNow();
        lock (_gate)
        {
            var lead = new LeadRecord(_nextLeadId++, now);
            lead.Fields["email"] = JsonValue.Create(email);
            foreach (var (field, value) in fields)
            {
                lead.Fields[field] = value as JsonNode ?? JsonSerializer.SerializeToNode(value);
            }
            _leads.Add(lead.Id, lead);
            return lead.Id;
        }
    }

    /// <summary>Changes field values of a lead (as a Marketo user editing it would), moving its <c>updatedAt</c>.</summary>
    public void UpdateLead(long leadId, params (string Field, object? Value)[] fields)
    {
        lock (_gate)
        {
            var lead = _leads.GetValueOrDefault(leadId) ?? throw new ArgumentException($"No lead {leadId}.", nameof(leadId));
            foreach (var (field, value) in fields) lead.Fields[field] = value as JsonNode ?? JsonSerializer.SerializeToNode(value);
            lead.UpdatedAt = Time.GetUtcNow();
        }
    }

    /// <summary>Adds a lead and associates the full <c>_mkto_trk</c> cookie value with it. Returns its id.</summary>
    public long SeedLeadWithCookie(string email, string cookie, params (string Field, object? Value)[] fields)
    {
        var id = SeedLead(email, fields);
        AddCookieToLead(id, cookie);
        return id;
    }

    /// <summary>Associates a full <c>_mkto_trk</c> cookie value (<c>id:AAA-BBB-CCC&amp;token:_mch-…</c>) with a lead,
    /// moving it from any other lead (as Associate Lead does).</summary>
    public void AddCookieToLead(long leadId, string cookie)
    {
        lock (_gate)
        {
            var lead = _leads.GetValueOrDefault(leadId) ?? throw new ArgumentException($"No lead {leadId}.", nameof(leadId));
            AttachCookie(lead, cookie, Time.GetUtcNow());
        }
    }

    /// <summary>Deletes a lead (as deleting it in Marketo, or merging it into another, does): lookups no longer find it and
    /// activities for its id are skipped with 1004. Returns whether it existed.</summary>
    public bool DeleteLead(long id)
    {
        lock (_gate)
        {
            return _leads.Remove(id);
        }
    }

    /// <summary>A lead by id, or null.</summary>
    public SandboxLead? GetLead(long id)
    {
        lock (_gate)
        {
            return _leads.TryGetValue(id, out var lead) ? lead.Snapshot() : null;
        }
    }

    /// <summary>Leads whose email matches case-insensitively.</summary>
    public IReadOnlyList<SandboxLead> FindLeadsByEmail(string email)
    {
        lock (_gate)
        {
            return [.. _leads.Values.Where(l => string.Equals(l.Email, email, StringComparison.OrdinalIgnoreCase)).Select(l => l.Snapshot())];
        }
    }

    /// <summary>All leads, by id.</summary>
    public IReadOnlyList<SandboxLead> Leads
    {
        get { lock (_gate) { return [.. _leads.Values.OrderBy(l => l.Id).Select(l => l.Snapshot())]; } }
    }

    // ---------------------------------------------------------------- schema

    /// <summary>Adds (or replaces) a custom lead field, visible in describe, lookups and sync.</summary>
    public void AddCustomField(string name, string dataType = "string", int? length = null)
    {
        lock (_gate)
        {
            _fields[name] = new SandboxFieldDefinition(name, dataType, readOnly: false, length: length);
        }
    }

    /// <summary>Adds an approved custom activity type. Returns its id (100001, 100002, … unless given).</summary>
    public int AddActivityType(string apiName, string name, string primaryAttribute, params string[] attributes)
        => AddActivityType(new SandboxActivityTypeDefinition
        {
            ApiName = apiName, Name = name, PrimaryAttribute = primaryAttribute, Attributes = [.. attributes],
        });

    /// <summary>Adds an approved custom activity type. Returns its id.</summary>
    public int AddActivityType(SandboxActivityTypeDefinition type)
    {
        lock (_gate)
        {
            var copy = new SandboxActivityTypeDefinition
            {
                Id = type.Id == 0 ? _nextActivityTypeId++ : type.Id,
                ApiName = type.ApiName, Name = type.Name, PrimaryAttribute = type.PrimaryAttribute, Attributes = [.. type.Attributes],
            };
            _nextActivityTypeId = Math.Max(_nextActivityTypeId, copy.Id + 1);
            _activityTypes[copy.Id] = copy;
            return copy.Id;
        }
    }

    /// <summary>Makes lookups that ask for <paramref name="field"/> fail with 1006 "Field 'x' not found" (even if it exists).</summary>
    public void FailField(string field)
    {
        lock (_gate)
        {
            _failingFields.Add(field);
        }
    }

    // ---------------------------------------------------------------- clients

    /// <summary>Adds another custom service (client id and secret). Its tokens and usage are its own.</summary>
    public void AddClient(string clientId, string clientSecret)
    {
        lock (_gate)
        {
            _clients[clientId] = clientSecret;
        }
    }

    // ---------------------------------------------------------------- faults

    /// <summary>Injects a fault; see <see cref="SandboxFault"/>. Faults are applied in the order they were added.</summary>
    public void InjectFault(SandboxFault fault)
    {
        lock (_gate)
        {
            _faults.Add(new FaultSlot(fault, fault.Count));
        }
    }

    /// <summary>Removes every injected fault, field failure and forced token expiry.</summary>
    public void ClearFaults()
    {
        lock (_gate)
        {
            _faults.Clear();
            _failingFields.Clear();
            TokenExpiryEvery = null;
        }
    }

    private void InitialiseCatalog()
    {
        _fields.Clear();
        foreach (var field in SandboxFieldCatalog.StandardFields.Concat(Options.CustomFields))
        {
            _fields[field.Name] = field;
        }
        _activityTypes.Clear();
        _nextActivityTypeId = 100_001;
        foreach (var type in Options.ActivityTypes)
        {
            var id = type.Id == 0 ? _nextActivityTypeId++ : type.Id;
            _nextActivityTypeId = Math.Max(_nextActivityTypeId, id + 1);
            _activityTypes[id] = new SandboxActivityTypeDefinition
            {
                Id = id, ApiName = type.ApiName, Name = type.Name, PrimaryAttribute = type.PrimaryAttribute, Attributes = [.. type.Attributes],
            };
        }
        _clients.Clear();
        _clients[Options.ClientId] = Options.ClientSecret;
    }

    /// <summary>Forgets everything (leads, tokens, usage, faults, counters) and starts again from <see cref="Options"/>.</summary>
    public void Reset()
    {
        lock (_gate)
        {
            _leads.Clear();
            _faults.Clear();
            _failingFields.Clear();
            _tokens.Clear();
            _currentTokens.Clear();
            _window.Clear();
            _usageByClient.Clear();
            _usageDay = default;
            TokenExpiryEvery = null;
            DailyQuota = Options.DailyQuota;
            _nextLeadId = 1;
            _nextActivityId = 1;
            InitialiseCatalog();
        }
        Counters.Reset();
    }

    internal string NextRequestId()
    {
        var sequence = Interlocked.Increment(ref _requestSequence);
        return $"{sequence}#{Time.GetUtcNow().ToUnixTimeMilliseconds():x}";
    }

    private sealed class FaultSlot(SandboxFault fault, int? remaining)
    {
        public SandboxFault Fault { get; } = fault;
        public int? Remaining { get; set; } = remaining;
    }

    internal sealed class LeadRecord(long id, DateTimeOffset createdAt)
    {
        public long Id { get; } = id;
        public Dictionary<string, JsonNode?> Fields { get; } = new(StringComparer.OrdinalIgnoreCase);
        public List<string> Cookies { get; } = [];
        public DateTimeOffset CreatedAt { get; } = createdAt;
        public DateTimeOffset UpdatedAt { get; set; } = createdAt;
        public string? Email => Fields.TryGetValue("email", out var node) && node is JsonValue v && v.GetValueKind() == JsonValueKind.String
            ? v.GetValue<string>() : null;

        public SandboxLead Snapshot() => new(Id,
            Fields.ToDictionary(kv => kv.Key, kv => kv.Value?.DeepClone(), StringComparer.OrdinalIgnoreCase),
            [.. Cookies], CreatedAt, UpdatedAt);
    }
}
