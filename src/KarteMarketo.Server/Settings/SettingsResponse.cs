using KarteMarketo.Contracts.Projects;
using System.Text.Json.Serialization;
using KarteMarketo.Grains.Projects;

namespace KarteMarketo.Server.Settings;

/// <summary>
/// The settings as stored (API.md, "Project settings"): secrets masked (<c>"****"</c> plus the last four characters),
/// <c>apiKey</c> and <c>webhookSecret</c> in full only in the answer that issued them.
/// </summary>
public sealed record SettingsResponse(
    string ProjectId,
    MarketoSettingsResponse Marketo,
    PeriodicSyncSettings PeriodicSync,
    RealtimeSyncSettings RealtimeSync,
    QuotaSettings Quota,
    IReadOnlyList<FieldMapping> FieldMappings,
    IReadOnlyList<ActivityMapping> ActivityMappings,
    string ApiKey,
    string WebhookSecret,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? MarketoConnection,
    KarteSettingsResponse Karte,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? KarteConnection,
    long Version,
    DateTimeOffset UpdatedAt)
{
    /// <param name="record">What the project grain stored.</param>
    /// <param name="issued">Keys issued by this very request, shown in full; otherwise the stored ones are masked.</param>
    /// <param name="marketoConnection"><c>ok</c> or <c>failed: …</c> when the credentials were just checked.</param>
    /// <param name="karteConnection">The same for the KARTE app token (null when KARTE writing is off or was not checked).</param>
    public static SettingsResponse From(ProjectRecord record, IssuedKeys? issued, string? marketoConnection, string? karteConnection = null)
    {
        var s = record.Settings;
        var m = s.Marketo;
        return new SettingsResponse(
            record.ProjectId,
            new MarketoSettingsResponse(
                m.ClientId,
                ProjectKeys.Mask(m.ClientSecret),
                m.Endpoint,
                m.Identity,
                m.MunchkinPrivateKey is null ? null : ProjectKeys.Mask(m.MunchkinPrivateKey),
                m.CustomFields,
                m.ExcludedFields,
                m.TimeZone),
            s.PeriodicSync,
            s.RealtimeSync,
            s.Quota,
            s.FieldMappings,
            s.ActivityMappings,
            issued?.ApiKey ?? ProjectKeys.Mask(record.ApiKey),
            issued?.WebhookSecret ?? ProjectKeys.Mask(record.WebhookSecret),
            marketoConnection,
            KarteSettingsResponse.From(s.Karte),
            karteConnection,
            record.Version,
            record.UpdatedAt);
    }

    /// <summary>Even masked, keep the keys out of log lines.</summary>
    public override string ToString() => $"SettingsResponse {{ ProjectId = {ProjectId}, Version = {Version} }}";
}

/// <summary><see cref="MarketoSettings"/> with <c>clientSecret</c> and <c>munchkinPrivateKey</c> masked.</summary>
public sealed record MarketoSettingsResponse(
    string ClientId,
    string ClientSecret,
    string Endpoint,
    string Identity,
    string? MunchkinPrivateKey,
    IReadOnlyList<string> CustomFields,
    IReadOnlyList<string> ExcludedFields,
    string TimeZone);

/// <summary><see cref="KarteSettings"/> with <c>appToken</c> masked like <c>clientSecret</c>.</summary>
public sealed record KarteSettingsResponse(
    bool Enabled,
    string Endpoint,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? AppToken,
    int RequestsPerSecond,
    bool WriteOnlyOnChange)
{
    public static KarteSettingsResponse From(KarteSettings k) =>
        new(k.Enabled, k.Endpoint, k.AppToken is null ? null : ProjectKeys.Mask(k.AppToken), k.RequestsPerSecond, k.WriteOnlyOnChange);
}
