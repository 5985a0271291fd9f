using KarteMarketo.Contracts.Projects;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace KarteMarketo.Server.Settings;

// The body of PUT /v1/projects/{projectId}/settings as sent. Every member is nullable so that "missing" (null) can be
// told from "wrong type" (a JSON error with its path) and from "out of range" (the validator). Unknown members land in
// the extension data and are reported by the validator, so a misspelt setting is never silently ignored.

/// <summary>The settings request as sent; <see cref="SettingsValidator"/> turns it into <see cref="ProjectSettings"/>.</summary>
public sealed class SettingsRequest
{
    public MarketoRequest? Marketo { get; set; }
    public PeriodicSyncRequest? PeriodicSync { get; set; }
    public RealtimeSyncRequest? RealtimeSync { get; set; }
    public QuotaRequest? Quota { get; set; }
    public List<FieldMappingRequest?>? FieldMappings { get; set; }
    public List<ActivityMappingRequest?>? ActivityMappings { get; set; }
    public KarteRequest? Karte { get; set; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Unknown { get; set; }
}

public sealed class KarteRequest
{
    public bool? Enabled { get; set; }
    public string? Endpoint { get; set; }
    public string? AppToken { get; set; }
    public int? RequestsPerSecond { get; set; }
    public bool? WriteOnlyOnChange { get; set; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Unknown { get; set; }

    /// <summary>Never print secrets.</summary>
    public override string ToString() => $"KarteRequest {{ Enabled = {Enabled}, Endpoint = {Endpoint} }}";
}

public sealed class MarketoRequest
{
    public string? ClientId { get; set; }
    public string? ClientSecret { get; set; }
    public string? Endpoint { get; set; }
    public string? Identity { get; set; }
    public string? MunchkinPrivateKey { get; set; }
    public List<string?>? CustomFields { get; set; }
    public List<string?>? ExcludedFields { get; set; }
    public string? TimeZone { get; set; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Unknown { get; set; }

    /// <summary>Never print secrets.</summary>
    public override string ToString() => $"MarketoRequest {{ ClientId = {ClientId}, Endpoint = {Endpoint} }}";
}

public sealed class PeriodicSyncRequest
{
    public bool? Enabled { get; set; }
    public int? IntervalMinutes { get; set; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Unknown { get; set; }
}

public sealed class RealtimeSyncRequest
{
    public bool? Enabled { get; set; }
    public List<string?>? Keys { get; set; }
    public int? ResyncWindowSeconds { get; set; }
    public int? BatchDelayMilliseconds { get; set; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Unknown { get; set; }
}

public sealed class QuotaRequest
{
    public int? DailyLimit { get; set; }
    public int? ReservePercent { get; set; }
    public int? CallsPer20Seconds { get; set; }
    public int? MaxConcurrentCalls { get; set; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Unknown { get; set; }
}

public sealed class FieldMappingRequest
{
    public string? MarketoField { get; set; }
    public string? Convert { get; set; }
    public string? SyncField { get; set; }
    public string? SubscriptionField { get; set; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Unknown { get; set; }
}

public sealed class ActivityMappingRequest
{
    public string? Event { get; set; }
    public int? ActivityTypeId { get; set; }
    public string? PrimaryAttribute { get; set; }
    public Dictionary<string, string?>? Attributes { get; set; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Unknown { get; set; }
}
