using KarteMarketo.Marketo;
using KarteMarketo.Contracts.Projects;
using System.Text.Json;
using System.Text.RegularExpressions;
using KarteMarketo.Contracts;

namespace KarteMarketo.Server.Settings;

/// <summary>Whether plain-http Marketo endpoints are accepted (<c>Marketo:AllowInsecureEndpoints</c>).</summary>
public sealed record SettingsValidationOptions(bool AllowInsecureEndpoints)
{
    public const string ConfigurationKey = "Marketo:AllowInsecureEndpoints";

    /// <summary>The configured value; by default true in Development only (API.md, "Configuration").</summary>
    public static SettingsValidationOptions From(IConfiguration configuration, IHostEnvironment environment)
    {
        var configured = configuration[ConfigurationKey];
        if (string.IsNullOrWhiteSpace(configured)) return new(environment.IsDevelopment());
        return bool.TryParse(configured, out var allow)
            ? new(allow)
            : throw new InvalidOperationException($"{ConfigurationKey} must be true or false, not '{configured}'.");
    }
}

/// <summary>The outcome of <see cref="SettingsValidator.Validate"/>: settings with every default applied, or errors
/// keyed by JSON path (<c>marketo.clientId</c>, <c>fieldMappings[2].convert</c>).</summary>
public sealed record SettingsValidationResult(ProjectSettings? Settings, IReadOnlyDictionary<string, string[]> Errors)
{
    public bool IsValid => Settings is not null && Errors.Count == 0;
}

/// <summary>
/// Checks a settings request against API.md ("Project settings") and fills in the defaults. It reports every bad field,
/// not only the first, so the settings screen can mark them all at once.
/// </summary>
public sealed partial class SettingsValidator(SettingsValidationOptions options)
{
    public const int MaxSecretLength = 256;
    public const int MaxUrlLength = 2048;
    public const int MaxNameLength = 255;
    public const int MaxListLength = 1000;
    public const int MaxMappings = 500;
    public const int MaxAttributes = 100;
    /// <summary>30 days: a reminder period must stay far below Orleans' limit of about 49 days.</summary>
    public const int MaxIntervalMinutes = 43_200;
    /// <summary>365 days.</summary>
    public const int MaxResyncWindowSeconds = 31_536_000;

    /// <summary>Members the GET response carries; a client may send a read copy back unchanged.</summary>
    private static readonly HashSet<string> ResponseOnlyMembers = new(StringComparer.Ordinal)
    {
        "projectId", "apiKey", "webhookSecret", "marketoConnection", "karteConnection", "version", "updatedAt",
    };

    /// <summary>KARTE user-info keys the sync writes itself; a mapping must not overwrite them.</summary>
    private static readonly HashSet<string> ReservedUserFields = new(StringComparer.Ordinal) { "marketo", "marketo_hash" };

    public SettingsValidationResult Validate(SettingsRequest? request)
    {
        var errors = new ValidationErrors();
        if (request is null)
        {
            errors.Add("$", "must be a JSON object");
            return new SettingsValidationResult(null, errors.ToDictionary());
        }

        ReportUnknown(errors, "", request.Unknown, ResponseOnlyMembers);
        var marketo = ValidateMarketo(errors, request.Marketo);
        var periodic = ValidatePeriodic(errors, request.PeriodicSync);
        var realtime = ValidateRealtime(errors, request.RealtimeSync);
        var quota = ValidateQuota(errors, request.Quota);
        var fieldMappings = ValidateFieldMappings(errors, request.FieldMappings);
        var activityMappings = ValidateActivityMappings(errors, request.ActivityMappings);
        var karte = ValidateKarte(errors, request.Karte);

        if (errors.Count > 0 || marketo is null) return new SettingsValidationResult(null, errors.ToDictionary());
        return new SettingsValidationResult(
            new ProjectSettings(marketo, periodic, realtime, quota, fieldMappings, activityMappings) { Karte = karte }, errors.ToDictionary());
    }

    private MarketoSettings? ValidateMarketo(ValidationErrors errors, MarketoRequest? m)
    {
        if (m is null)
        {
            errors.Add("marketo", "is required");
            return null;
        }
        ReportUnknown(errors, "marketo", m.Unknown);
        var clientId = RequiredText(errors, "marketo.clientId", m.ClientId, MaxSecretLength);
        var clientSecret = RequiredText(errors, "marketo.clientSecret", m.ClientSecret, MaxSecretLength);
        var endpoint = MarketoUrl(errors, "marketo.endpoint", m.Endpoint, "/rest");
        var identity = MarketoUrl(errors, "marketo.identity", m.Identity, "/identity");
        string? munchkinKey = null;
        if (m.MunchkinPrivateKey is not null)
            munchkinKey = RequiredText(errors, "marketo.munchkinPrivateKey", m.MunchkinPrivateKey, MaxSecretLength);
        var customFields = MarketoFieldList(errors, "marketo.customFields", m.CustomFields);
        var excludedFields = MarketoFieldList(errors, "marketo.excludedFields", m.ExcludedFields);
        var timeZone = MarketoLimits.DayTimeZoneId;
        if (m.TimeZone is not null)
        {
            timeZone = m.TimeZone;
            if (!IsIanaTimeZone(m.TimeZone)) errors.Add("marketo.timeZone", "must be an IANA time zone name such as America/Chicago");
        }

        if (clientId is null || clientSecret is null || endpoint is null || identity is null) return null;
        return new MarketoSettings(clientId, clientSecret, endpoint, identity, munchkinKey, customFields, excludedFields, timeZone);
    }

    /// <summary>The <c>karte</c> object (API.md, "KARTE write-back"): absent means nothing is written to KARTE.</summary>
    private KarteSettings ValidateKarte(ValidationErrors errors, KarteRequest? k)
    {
        if (k is null) return KarteSettings.Disabled;
        ReportUnknown(errors, "karte", k.Unknown);
        var enabled = k.Enabled ?? true;
        var endpoint = KarteSettings.DefaultEndpoint;
        if (k.Endpoint is not null) endpoint = AbsoluteUrl(errors, "karte.endpoint", k.Endpoint) ?? endpoint;
        string? token = null;
        if (k.AppToken is not null) token = RequiredText(errors, "karte.appToken", k.AppToken, MaxSecretLength);
        else if (enabled) errors.Add("karte.appToken", "is required when karte.enabled is true");
        return new KarteSettings(
            enabled,
            endpoint,
            token,
            Range(errors, "karte.requestsPerSecond", k.RequestsPerSecond, KarteSettings.DefaultRequestsPerSecond, 1, 1000),
            k.WriteOnlyOnChange ?? true);
    }

    private static PeriodicSyncSettings ValidatePeriodic(ValidationErrors errors, PeriodicSyncRequest? p)
    {
        if (p is null) return new PeriodicSyncSettings(true, 30);
        ReportUnknown(errors, "periodicSync", p.Unknown);
        return new PeriodicSyncSettings(
            p.Enabled ?? true,
            Range(errors, "periodicSync.intervalMinutes", p.IntervalMinutes, 30, 1, MaxIntervalMinutes));
    }

    private static RealtimeSyncSettings ValidateRealtime(ValidationErrors errors, RealtimeSyncRequest? r)
    {
        if (r is null) return new RealtimeSyncSettings(true, ["email", "cookie"], 86_400, 1_000);
        ReportUnknown(errors, "realtimeSync", r.Unknown);
        IReadOnlyList<string> keys = ["email", "cookie"];
        if (r.Keys is not null)
        {
            var list = new List<string>();
            for (var i = 0; i < r.Keys.Count; i++)
            {
                var path = $"realtimeSync.keys[{i}]";
                var key = r.Keys[i];
                if (key is not ("email" or "cookie")) errors.Add(path, "must be email or cookie");
                else if (list.Contains(key)) errors.Add(path, "is listed twice");
                else list.Add(key);
            }
            keys = list;
        }
        return new RealtimeSyncSettings(
            r.Enabled ?? true,
            keys,
            Range(errors, "realtimeSync.resyncWindowSeconds", r.ResyncWindowSeconds, 86_400, 1, MaxResyncWindowSeconds),
            Range(errors, "realtimeSync.batchDelayMilliseconds", r.BatchDelayMilliseconds, 1_000, 0, 10_000));
    }

    private static QuotaSettings ValidateQuota(ValidationErrors errors, QuotaRequest? q)
    {
        var d = QuotaSettings.Default;
        if (q is null) return d;
        ReportUnknown(errors, "quota", q.Unknown);
        return new QuotaSettings(
            Range(errors, "quota.dailyLimit", q.DailyLimit, d.DailyLimit, 1, int.MaxValue),
            Range(errors, "quota.reservePercent", q.ReservePercent, d.ReservePercent, 0, 90),
            Range(errors, "quota.callsPer20Seconds", q.CallsPer20Seconds, d.CallsPer20Seconds, 1, MarketoLimits.CallsPerWindow),
            Range(errors, "quota.maxConcurrentCalls", q.MaxConcurrentCalls, d.MaxConcurrentCalls, 1, MarketoLimits.MaxConcurrentCalls));
    }

    private static IReadOnlyList<FieldMapping> ValidateFieldMappings(ValidationErrors errors, List<FieldMappingRequest?>? mappings)
    {
        if (mappings is null) return [];
        if (mappings.Count > MaxMappings)
        {
            errors.Add("fieldMappings", $"must have at most {MaxMappings} entries");
            return [];
        }
        var result = new List<FieldMapping>();
        for (var i = 0; i < mappings.Count; i++)
        {
            var path = $"fieldMappings[{i}]";
            var m = mappings[i];
            if (m is null)
            {
                errors.Add(path, "must be an object");
                continue;
            }
            ReportUnknown(errors, path, m.Unknown);
            var marketoField = MarketoFieldName(errors, $"{path}.marketoField", m.MarketoField);
            var convert = m.Convert ?? FieldConversions.None;
            if (!FieldConversions.All.Contains(convert))
                errors.Add($"{path}.convert", $"must be one of {string.Join(", ", FieldConversions.All.Order(StringComparer.Ordinal))}");
            var syncField = UserFieldName(errors, $"{path}.syncField", m.SyncField, required: true);
            var subscriptionField = UserFieldName(errors, $"{path}.subscriptionField", m.SubscriptionField, required: false);
            if (marketoField is not null && syncField is not null)
                result.Add(new FieldMapping(marketoField, convert, syncField, subscriptionField));
        }
        return result;
    }

    private static IReadOnlyList<ActivityMapping> ValidateActivityMappings(ValidationErrors errors, List<ActivityMappingRequest?>? mappings)
    {
        if (mappings is null) return [];
        if (mappings.Count > MaxMappings)
        {
            errors.Add("activityMappings", $"must have at most {MaxMappings} entries");
            return [];
        }
        var result = new List<ActivityMapping>();
        var seenEvents = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < mappings.Count; i++)
        {
            var path = $"activityMappings[{i}]";
            var m = mappings[i];
            if (m is null)
            {
                errors.Add(path, "must be an object");
                continue;
            }
            ReportUnknown(errors, path, m.Unknown);
            var eventName = RequiredText(errors, $"{path}.event", m.Event, MaxNameLength);
            if (eventName is not null)
            {
                // One event, one activity: two mappings for the same event would leave the choice to chance.
                if (seenEvents.TryGetValue(eventName, out var first)) errors.Add($"{path}.event", $"is already mapped by activityMappings[{first}]");
                else seenEvents[eventName] = i;
            }
            var typeId = 0;
            if (m.ActivityTypeId is null) errors.Add($"{path}.activityTypeId", "is required");
            else if (m.ActivityTypeId < 1) errors.Add($"{path}.activityTypeId", "must be at least 1");
            else typeId = m.ActivityTypeId.Value;
            var primary = RequiredText(errors, $"{path}.primaryAttribute", m.PrimaryAttribute, MaxNameLength);
            var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
            if (m.Attributes is not null)
            {
                if (m.Attributes.Count > MaxAttributes) errors.Add($"{path}.attributes", $"must have at most {MaxAttributes} entries");
                foreach (var (apiName, valueKey) in m.Attributes)
                {
                    var attributePath = $"{path}.attributes.{apiName}";
                    if (!MarketoNamePattern().IsMatch(apiName))
                    {
                        errors.Add($"{path}.attributes", $"'{Printable(apiName)}' is not a Marketo attribute API name (letters, digits and _)");
                        continue;
                    }
                    var key = RequiredText(errors, attributePath, valueKey, MaxNameLength);
                    if (key is not null) attributes[apiName] = key;
                }
            }
            if (eventName is not null && typeId > 0 && primary is not null)
                result.Add(new ActivityMapping(eventName, typeId, primary, attributes));
        }
        return result;
    }

    private string? MarketoUrl(ValidationErrors errors, string path, string? value, string requiredSuffix)
    {
        var normalized = AbsoluteUrl(errors, path, value);
        if (normalized is null) return null;
        if (!new Uri(normalized).AbsolutePath.TrimEnd('/').EndsWith(requiredSuffix, StringComparison.Ordinal))
        {
            errors.Add(path, $"must end in {requiredSuffix} (as shown in Marketo under Admin > Web Services)");
            return null;
        }
        return normalized;
    }

    /// <summary>An absolute https URL (http where <c>Marketo:AllowInsecureEndpoints</c>, which covers every outbound
    /// endpoint) without query, fragment or credentials; returned without a trailing slash.</summary>
    private string? AbsoluteUrl(ValidationErrors errors, string path, string? value)
    {
        var text = RequiredText(errors, path, value, MaxUrlLength);
        if (text is null) return null;
        var allowed = options.AllowInsecureEndpoints ? "an absolute http or https URL" : "an absolute https URL";
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri)
            || !(uri.Scheme == Uri.UriSchemeHttps || (options.AllowInsecureEndpoints && uri.Scheme == Uri.UriSchemeHttp))
            || string.IsNullOrEmpty(uri.Host)
            || !string.IsNullOrEmpty(uri.UserInfo)
            || !string.IsNullOrEmpty(uri.Query)
            || !string.IsNullOrEmpty(uri.Fragment))
        {
            var insecureHint = !options.AllowInsecureEndpoints && text.StartsWith("http://", StringComparison.OrdinalIgnoreCase)
                ? " (plain http needs Marketo:AllowInsecureEndpoints)"
                : "";
            errors.Add(path, $"must be {allowed} without query or credentials{insecureHint}");
            return null;
        }
        return text.TrimEnd('/');
    }

    private static IReadOnlyList<string> MarketoFieldList(ValidationErrors errors, string path, List<string?>? values)
    {
        if (values is null) return [];
        if (values.Count > MaxListLength)
        {
            errors.Add(path, $"must have at most {MaxListLength} entries");
            return [];
        }
        var result = new List<string>();
        for (var i = 0; i < values.Count; i++)
        {
            var name = MarketoFieldName(errors, $"{path}[{i}]", values[i]);
            if (name is not null && !result.Contains(name, StringComparer.Ordinal)) result.Add(name);
        }
        return result;
    }

    /// <summary>Marketo REST names: letters, digits and underscores. Anything else (a comma above all) would break the
    /// comma-separated <c>fields</c> parameter of lead lookups.</summary>
    private static string? MarketoFieldName(ValidationErrors errors, string path, string? value)
    {
        if (value is null)
        {
            errors.Add(path, "is required");
            return null;
        }
        if (value.Length > MaxNameLength)
        {
            errors.Add(path, $"must be at most {MaxNameLength} characters");
            return null;
        }
        if (!MarketoNamePattern().IsMatch(value))
        {
            errors.Add(path, "must be a Marketo REST API field name (letters, digits and _)");
            return null;
        }
        return value;
    }

    private static string? UserFieldName(ValidationErrors errors, string path, string? value, bool required)
    {
        if (value is null && !required) return null;
        var text = RequiredText(errors, path, value, MaxNameLength);
        if (text is null) return null;
        if (ReservedUserFields.Contains(text))
        {
            errors.Add(path, "is written by the sync itself; choose another name");
            return null;
        }
        return text;
    }

    /// <summary>Present, not blank, no control characters, at most <paramref name="maxLength"/> characters.</summary>
    private static string? RequiredText(ValidationErrors errors, string path, string? value, int maxLength)
    {
        if (value is null)
        {
            errors.Add(path, "is required");
            return null;
        }
        if (string.IsNullOrWhiteSpace(value))
        {
            errors.Add(path, "must not be blank");
            return null;
        }
        if (value.Length > maxLength)
        {
            errors.Add(path, $"must be at most {maxLength} characters");
            return null;
        }
        if (value.Any(char.IsControl))
        {
            errors.Add(path, "must not contain control characters");
            return null;
        }
        return value;
    }

    private static int Range(ValidationErrors errors, string path, int? value, int defaultValue, int min, int max)
    {
        if (value is null) return defaultValue;
        if (value < min || value > max)
        {
            errors.Add(path, max == int.MaxValue ? $"must be at least {min}" : $"must be between {min} and {max}");
            return defaultValue;
        }
        return value.Value;
    }

    private static void ReportUnknown(ValidationErrors errors, string parent, Dictionary<string, JsonElement>? unknown,
        IReadOnlySet<string>? ignored = null)
    {
        if (unknown is null) return;
        foreach (var name in unknown.Keys)
        {
            if (ignored is not null && ignored.Contains(name)) continue;
            var printable = Printable(name);
            errors.Add(parent.Length == 0 ? printable : $"{parent}.{printable}", "is not a known setting");
        }
    }

    /// <summary>Time zones are IANA names (<c>America/Chicago</c>, <c>UTC</c>); Windows names, which .NET would also
    /// find, contain spaces and are refused.</summary>
    private static bool IsIanaTimeZone(string id) =>
        id.Length is > 0 and <= 64
        && !id.Any(c => char.IsWhiteSpace(c) || char.IsControl(c))
        && TimeZoneInfo.TryFindSystemTimeZoneById(id, out _);

    /// <summary>Names from the request go into error keys and messages: keep them short and printable.</summary>
    private static string Printable(string name)
    {
        var clean = new string(name.Select(c => char.IsControl(c) ? '?' : c).Take(MaxNameLength).ToArray());
        return clean.Length == 0 ? "(empty)" : clean;
    }

    [GeneratedRegex("^[A-Za-z0-9_]+$", RegexOptions.CultureInvariant)]
    private static partial Regex MarketoNamePattern();
}
