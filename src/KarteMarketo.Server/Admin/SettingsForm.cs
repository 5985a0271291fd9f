using System.Globalization;
using System.Text.Json;
using KarteMarketo.Server.Settings;

namespace KarteMarketo.Server.Admin;

/// <summary>
/// Turns the console's forms into the API's <see cref="SettingsRequest"/>, so that saving goes through
/// <see cref="ProjectSettingsService"/> and its validator exactly as <c>PUT …/settings</c> does. Form fields are named
/// by the JSON path the validator reports errors under (<c>marketo.clientId</c>, <c>fieldMappings[2].convert</c>), so
/// each message lands beside its field.
/// </summary>
public static class SettingsForm
{
    /// <summary>The same message the JSON reader gives for a number of the wrong type.</summary>
    public const string NotAnInteger = "must be an integer";

    /// <summary>The stored settings as a request (secrets masked, which the service reads as "keep the stored one").
    /// Going through JSON keeps every section, including those this form does not show, across a save.</summary>
    public static SettingsRequest FromStored(SettingsResponse? stored)
    {
        if (stored is null) return new SettingsRequest();
        var json = JsonSerializer.SerializeToElement(stored, JsonSerializerOptions.Web);
        return json.Deserialize<SettingsRequest>(JsonSerializerOptions.Web) ?? new SettingsRequest();
    }

    /// <summary>The values shown in the settings form for a request (stored settings, or the defaults).</summary>
    public static Dictionary<string, string?> Values(SettingsRequest r)
    {
        var values = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["marketo.clientId"] = r.Marketo?.ClientId,
            ["marketo.endpoint"] = r.Marketo?.Endpoint,
            ["marketo.identity"] = r.Marketo?.Identity,
            ["marketo.customFields"] = Join(r.Marketo?.CustomFields),
            ["marketo.excludedFields"] = Join(r.Marketo?.ExcludedFields),
            ["marketo.timeZone"] = r.Marketo?.TimeZone,
            ["periodicSync.enabled"] = Bool(r.PeriodicSync?.Enabled),
            ["periodicSync.intervalMinutes"] = Int(r.PeriodicSync?.IntervalMinutes),
            ["realtimeSync.enabled"] = Bool(r.RealtimeSync?.Enabled),
            ["realtimeSync.keys"] = Join(r.RealtimeSync?.Keys),
            ["realtimeSync.resyncWindowSeconds"] = Int(r.RealtimeSync?.ResyncWindowSeconds),
            ["realtimeSync.batchDelayMilliseconds"] = Int(r.RealtimeSync?.BatchDelayMilliseconds),
            ["quota.dailyLimit"] = Int(r.Quota?.DailyLimit),
            ["quota.reservePercent"] = Int(r.Quota?.ReservePercent),
            ["quota.callsPer20Seconds"] = Int(r.Quota?.CallsPer20Seconds),
            ["quota.maxConcurrentCalls"] = Int(r.Quota?.MaxConcurrentCalls),
            ["karte.enabled"] = Bool(r.Karte?.Enabled),
            ["karte.endpoint"] = r.Karte?.Endpoint,
            ["karte.requestsPerSecond"] = Int(r.Karte?.RequestsPerSecond),
            ["karte.writeOnlyOnChange"] = Bool(r.Karte?.WriteOnlyOnChange),
        };
        return values;
    }

    /// <summary>The values as typed, to show them again after a refused save.</summary>
    public static Dictionary<string, string?> Values(IFormCollection form)
    {
        var values = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var (name, value) in form) values[name] = string.Join(", ", value.Where(v => v is not null));
        return values;
    }

    /// <summary>Writes the settings form's fields over <paramref name="request"/>. Secrets left empty keep the stored
    /// ones (sent as their mask, as a read copy would be); numbers that are not integers are reported in
    /// <paramref name="parseErrors"/> under their path.</summary>
    public static void ApplySettings(SettingsRequest request, IFormCollection form, SettingsResponse? stored, ValidationErrors parseErrors)
    {
        var m = request.Marketo ??= new MarketoRequest();
        m.ClientId = Text(form, "marketo.clientId");
        m.ClientSecret = Secret(form, "marketo.clientSecret", stored?.Marketo.ClientSecret);
        m.Endpoint = Text(form, "marketo.endpoint");
        m.Identity = Text(form, "marketo.identity");
        m.MunchkinPrivateKey = form.ContainsKey("marketo.munchkinPrivateKey.clear")
            ? null
            : Secret(form, "marketo.munchkinPrivateKey", stored?.Marketo.MunchkinPrivateKey);
        m.CustomFields = List(form, "marketo.customFields");
        m.ExcludedFields = List(form, "marketo.excludedFields");
        m.TimeZone = Text(form, "marketo.timeZone") is { Length: > 0 } zone ? zone : null;

        var p = request.PeriodicSync ??= new PeriodicSyncRequest();
        p.Enabled = form.ContainsKey("periodicSync.enabled");
        p.IntervalMinutes = Integer(form, "periodicSync.intervalMinutes", parseErrors);

        var rt = request.RealtimeSync ??= new RealtimeSyncRequest();
        rt.Enabled = form.ContainsKey("realtimeSync.enabled");
        rt.Keys = [.. form["realtimeSync.keys"].Where(k => !string.IsNullOrEmpty(k))];
        rt.ResyncWindowSeconds = Integer(form, "realtimeSync.resyncWindowSeconds", parseErrors);
        rt.BatchDelayMilliseconds = Integer(form, "realtimeSync.batchDelayMilliseconds", parseErrors);

        var q = request.Quota ??= new QuotaRequest();
        q.DailyLimit = Integer(form, "quota.dailyLimit", parseErrors);
        q.ReservePercent = Integer(form, "quota.reservePercent", parseErrors);
        q.CallsPer20Seconds = Integer(form, "quota.callsPer20Seconds", parseErrors);
        q.MaxConcurrentCalls = Integer(form, "quota.maxConcurrentCalls", parseErrors);

        var k = request.Karte ??= new KarteRequest();
        k.Enabled = form.ContainsKey("karte.enabled");
        k.Endpoint = Text(form, "karte.endpoint") is { Length: > 0 } karteEndpoint ? karteEndpoint : null;
        k.AppToken = Secret(form, "karte.appToken", stored?.Karte.AppToken);
        k.RequestsPerSecond = Integer(form, "karte.requestsPerSecond", parseErrors);
        k.WriteOnlyOnChange = form.ContainsKey("karte.writeOnlyOnChange");
    }

    /// <summary>Messages for one field: its own path and, for a list field, its items' paths (<c>path[2]</c>).</summary>
    public static IReadOnlyList<string> ErrorsFor(IReadOnlyDictionary<string, string[]> errors, string path) =>
        [.. errors.Where(e => Covers(path, e.Key)).SelectMany(e => e.Value)];

    /// <summary>Errors that no field in <paramref name="fields"/> shows (unknown members, a whole list refused).</summary>
    public static IReadOnlyList<string> Unplaced(IReadOnlyDictionary<string, string[]> errors, IEnumerable<string> fields)
    {
        var list = fields.ToList();
        return [.. errors.Where(e => !list.Any(f => Covers(f, e.Key))).SelectMany(e => e.Value.Select(v => $"{e.Key}: {v}"))];
    }

    /// <summary>Whether the field at <paramref name="field"/> shows the error at <paramref name="errorPath"/>.</summary>
    public static bool Covers(string field, string errorPath) =>
        errorPath == field
        || (errorPath.StartsWith(field, StringComparison.Ordinal) && errorPath.Length > field.Length && errorPath[field.Length] is '[' or '.');

    public static Dictionary<string, string[]> Merge(IReadOnlyDictionary<string, string[]> first, IReadOnlyDictionary<string, string[]> second)
    {
        var merged = first.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        foreach (var (key, value) in second)
            merged[key] = merged.TryGetValue(key, out var existing) ? [.. existing, .. value.Except(existing)] : value;
        return merged;
    }

    internal static string? Text(IFormCollection form, string name) => form.TryGetValue(name, out var v) ? v.ToString() : null;

    internal static int? Integer(IFormCollection form, string name, ValidationErrors parseErrors)
    {
        var text = Text(form, name)?.Trim();
        if (string.IsNullOrEmpty(text)) return null;
        if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)) return value;
        parseErrors.Add(name, NotAnInteger);
        return null;
    }

    internal static List<string?> List(IFormCollection form, string name) =>
        [.. (Text(form, name) ?? "").Split([',', '\n', '\r'], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)];

    /// <summary>Write-only: an empty field keeps the stored secret (its mask is what a read copy carries).</summary>
    private static string? Secret(IFormCollection form, string name, string? storedMask)
    {
        var typed = Text(form, name);
        return string.IsNullOrEmpty(typed) ? storedMask : typed;
    }

    private static string? Join(IEnumerable<string?>? values) => values is null ? null : string.Join(", ", values);
    private static string? Int(int? value) => value?.ToString(CultureInfo.InvariantCulture);
    private static string? Bool(bool? value) => value is null ? null : value.Value ? "on" : null;
}

/// <summary>The validator's defaults as a form would show them for a new project (no second copy of the defaults).</summary>
public static class SettingsDefaults
{
    public static SettingsRequest For(SettingsValidator validator)
    {
        var probe = validator.Validate(new SettingsRequest
        {
            Marketo = new MarketoRequest
            {
                ClientId = "-", ClientSecret = "-",
                Endpoint = "https://000-AAA-000.mktorest.com/rest", Identity = "https://000-AAA-000.mktorest.com/identity",
            },
        });
        var defaults = probe.Settings ?? throw new InvalidOperationException("the validator refused its own defaults");
        var json = JsonSerializer.SerializeToElement(defaults with { Marketo = defaults.Marketo }, JsonSerializerOptions.Web);
        var request = json.Deserialize<SettingsRequest>(JsonSerializerOptions.Web) ?? new SettingsRequest();
        request.Marketo = new MarketoRequest { TimeZone = defaults.Marketo.TimeZone };
        return request;
    }
}
