namespace KarteMarketo.Contracts.Projects;

/// <summary>A project's validated settings, as stored by the <see cref="IProjectGrain"/> (API.md, "Project settings").</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.ProjectSettings")]
public sealed record ProjectSettings(
    [property: Id(0)] MarketoSettings Marketo,
    [property: Id(1)] PeriodicSyncSettings PeriodicSync,
    [property: Id(2)] RealtimeSyncSettings RealtimeSync,
    [property: Id(3)] QuotaSettings Quota,
    [property: Id(4)] IReadOnlyList<FieldMapping> FieldMappings,
    [property: Id(5)] IReadOnlyList<ActivityMapping> ActivityMappings)
{
    /// <summary>Writing to KARTE itself (API.md, "KARTE write-back"); off unless the settings carry a <c>karte</c> object.</summary>
    // Null-safe: state stored before this member existed is read back without it.
    public KarteSettings Karte { get => _karte ?? KarteSettings.Disabled; init => _karte = value; }

    [Id(6)] private KarteSettings? _karte;
}

/// <summary>Where and how the project writes user info and Marketo events to KARTE.</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.KarteSettings")]
public sealed record KarteSettings(
    [property: Id(0)] bool Enabled,
    [property: Id(1)] string Endpoint,
    [property: Id(2)] string? AppToken,
    [property: Id(3)] int RequestsPerSecond,
    [property: Id(4)] bool WriteOnlyOnChange)
{
    public const string DefaultEndpoint = "https://api.karte.io";
    public const int DefaultRequestsPerSecond = 20;

    /// <summary>Nothing is written to KARTE (no <c>karte</c> object in the settings).</summary>
    public static KarteSettings Disabled { get; } = new(false, DefaultEndpoint, null, DefaultRequestsPerSecond, true);

    /// <summary>Whether writes go out: enabled with a token.</summary>
    public bool IsActive => Enabled && !string.IsNullOrEmpty(AppToken);

    /// <summary>Never print the token.</summary>
    public override string ToString() =>
        $"KarteSettings {{ Enabled = {Enabled}, Endpoint = {Endpoint}, RequestsPerSecond = {RequestsPerSecond}, WriteOnlyOnChange = {WriteOnlyOnChange} }}";
}

/// <summary>Marketo credentials and the lead fields to sync.</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.MarketoSettings")]
public sealed record MarketoSettings(
    [property: Id(0)] string ClientId,
    [property: Id(1)] string ClientSecret,
    [property: Id(2)] string Endpoint,
    [property: Id(3)] string Identity,
    [property: Id(4)] string? MunchkinPrivateKey,
    [property: Id(5)] IReadOnlyList<string> CustomFields,
    [property: Id(6)] IReadOnlyList<string> ExcludedFields,
    [property: Id(7)] string TimeZone)
{
    /// <summary>The Marketo instance this project talks to: the endpoint's authority (host and port).
    /// Projects with the same instance share one quota.</summary>
    public string InstanceId => MarketoInstance.FromEndpoint(Endpoint);

    /// <summary>Never print secrets, not even by accident in a log line.</summary>
    public override string ToString() => $"MarketoSettings {{ ClientId = {ClientId}, Endpoint = {Endpoint}, Identity = {Identity} }}";
}

[GenerateSerializer, Immutable, Alias("KarteMarketo.PeriodicSyncSettings")]
public sealed record PeriodicSyncSettings([property: Id(0)] bool Enabled, [property: Id(1)] int IntervalMinutes);

[GenerateSerializer, Immutable, Alias("KarteMarketo.RealtimeSyncSettings")]
public sealed record RealtimeSyncSettings(
    [property: Id(0)] bool Enabled,
    [property: Id(1)] IReadOnlyList<string> Keys,
    [property: Id(2)] int ResyncWindowSeconds,
    [property: Id(3)] int BatchDelayMilliseconds);

[GenerateSerializer, Immutable, Alias("KarteMarketo.QuotaSettings")]
public sealed record QuotaSettings(
    [property: Id(0)] int DailyLimit,
    [property: Id(1)] int ReservePercent,
    [property: Id(2)] int CallsPer20Seconds,
    [property: Id(3)] int MaxConcurrentCalls)
{
    public static QuotaSettings Default { get; } = new(50_000, 10, 90, 8);

    /// <summary>Projects on one instance share a quota: the strictest value of each setting applies.</summary>
    public QuotaSettings Strictest(QuotaSettings other) => new(
        Math.Min(DailyLimit, other.DailyLimit),
        Math.Max(ReservePercent, other.ReservePercent),
        Math.Min(CallsPer20Seconds, other.CallsPer20Seconds),
        Math.Min(MaxConcurrentCalls, other.MaxConcurrentCalls));
}

/// <summary>How a lead field reaches KARTE user info. <c>Convert</c> is one of <see cref="FieldConversions"/>.</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.FieldMapping")]
public sealed record FieldMapping(
    [property: Id(0)] string MarketoField,
    [property: Id(1)] string Convert,
    [property: Id(2)] string SyncField,
    [property: Id(3)] string? SubscriptionField);

/// <summary>How a KARTE event becomes a Marketo custom activity.</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.ActivityMapping")]
public sealed record ActivityMapping(
    [property: Id(0)] string Event,
    [property: Id(1)] int ActivityTypeId,
    [property: Id(2)] string PrimaryAttribute,
    [property: Id(3)] IReadOnlyDictionary<string, string> Attributes);

/// <summary>The values of <see cref="FieldMapping.Convert"/>.</summary>
public static class FieldConversions
{
    public const string None = "none";
    public const string StringToDate = "stringToDate";
    public const string UnixSecondsToDate = "unixSecondsToDate";
    public const string UnixMillisecondsToDate = "unixMillisecondsToDate";
    public const string ToBoolean = "toBoolean";

    public static IReadOnlySet<string> All { get; } =
        new HashSet<string>(StringComparer.Ordinal) { None, StringToDate, UnixSecondsToDate, UnixMillisecondsToDate, ToBoolean };
}

/// <summary>Names the Marketo instance behind an endpoint URL.</summary>
public static class MarketoInstance
{
    /// <summary>The authority of the REST endpoint: for real Marketo the munchkin id host
    /// (<c>123-ABC-456.mktorest.com</c> → <c>123-ABC-456</c>), otherwise <c>host:port</c>.</summary>
    public static string FromEndpoint(string endpoint)
    {
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri)) return endpoint;
        const string marketoSuffix = ".mktorest.com";
        if (uri.Host.EndsWith(marketoSuffix, StringComparison.OrdinalIgnoreCase) && uri.IsDefaultPort)
            return uri.Host[..^marketoSuffix.Length].ToUpperInvariant();
        return uri.IsDefaultPort ? uri.Host.ToLowerInvariant() : $"{uri.Host.ToLowerInvariant()}:{uri.Port}";
    }
}
