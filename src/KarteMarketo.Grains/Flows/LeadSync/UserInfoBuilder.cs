using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>A user info <c>identify</c> object built from a lead, and what could not be written.</summary>
public sealed record BuiltUserInfo(JsonObject Identify, IReadOnlyList<string> Errors);

/// <summary>
/// Builds the <c>identify</c> part of user info (API.md, "User info") from a lead as Marketo returned it and the
/// project's settings. Pure.
/// </summary>
public static class UserInfoBuilder
{
    /// <summary>Where the lead's fields go; a mapping may not write over these.</summary>
    public const string MarketoProperty = "marketo";
    public const string HashProperty = "marketo_hash";
    public const string LastSyncProperty = "_karte_last_sync_date";

    /// <summary>
    /// <c>identify.marketo</c>: the lead's non-null fields minus <c>excludedFields</c> (<c>id</c> always stays: it is what
    /// makes the user lead-synced), plus <c>_karte_last_sync_date</c>. Mapped fields go to <c>identify.&lt;syncField&gt;</c>
    /// after conversion, with <c>identify.&lt;subscriptionField&gt;</c> = true; a value that does not convert is skipped and
    /// reported. <c>marketo_hash</c> where a Munchkin private key is set, over <paramref name="keyEmail"/> (the site's
    /// email as sent in identify, normalised) where the lead was found by email.
    /// </summary>
    public static BuiltUserInfo Build(JsonObject lead, MarketoSettings marketo, IReadOnlyList<FieldMapping> mappings,
        string? keyEmail, DateTimeOffset syncedAt)
    {
        var errors = new List<string>();
        var excluded = new HashSet<string>(marketo.ExcludedFields, StringComparer.OrdinalIgnoreCase);
        excluded.Remove("id");

        var marketoInfo = new JsonObject();
        foreach (var (name, value) in lead)
        {
            if (value is null || excluded.Contains(name)) continue;
            marketoInfo[name] = value.DeepClone();
        }
        marketoInfo[LastSyncProperty] = syncedAt.ToUnixTimeSeconds();

        var identify = new JsonObject();
        var zone = ResolveZone(marketo.TimeZone);
        foreach (var mapping in mappings)
        {
            if (mapping.SyncField is MarketoProperty or HashProperty || mapping.SubscriptionField is MarketoProperty or HashProperty)
            {
                errors.Add($"fieldMappings: '{mapping.SyncField}' is reserved and was not written");
                continue;
            }
            var source = Find(lead, mapping.MarketoField);
            if (source is null) continue;
            var converted = FieldConversion.Convert(mapping.Convert, source, zone);
            if (!converted.Success)
            {
                errors.Add($"field '{mapping.MarketoField}' ({mapping.Convert}): {converted.Error}; not written to '{mapping.SyncField}'");
                continue;
            }
            identify[mapping.SyncField] = converted.Value;
            if (!string.IsNullOrEmpty(mapping.SubscriptionField)) identify[mapping.SubscriptionField] = true;
        }

        identify[MarketoProperty] = marketoInfo;

        // The plugin hashed identify.email, the address the site sends (normalised: trimmed, lower-cased), not the
        // casing Marketo stored; a lead found by cookie has no such address, so its own email is used there.
        var hashEmail = !string.IsNullOrEmpty(keyEmail) ? keyEmail
            : Find(lead, "email") is JsonValue e && e.TryGetValue<string>(out var leadEmail) && leadEmail.Length > 0
                ? leadEmail.Trim().ToLowerInvariant() : null;
        if (!string.IsNullOrEmpty(marketo.MunchkinPrivateKey) && !string.IsNullOrEmpty(hashEmail))
            identify[HashProperty] = MunchkinHash(marketo.MunchkinPrivateKey, hashEmail);

        return new BuiltUserInfo(identify, errors);
    }

    /// <summary>The legacy Munchkin <c>associateLead</c> hash: lowercase hex SHA-1 of private key + email, no separator.</summary>
    public static string MunchkinHash(string privateKey, string email) =>
        Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(privateKey + email)));

    /// <summary>The instance's time zone; UTC where the id is unknown (settings validation keeps that from happening).</summary>
    public static TimeZoneInfo ResolveZone(string? timeZoneId)
    {
        if (!string.IsNullOrWhiteSpace(timeZoneId) && TimeZoneInfo.TryFindSystemTimeZoneById(timeZoneId, out var zone)) return zone;
        return TimeZoneInfo.Utc;
    }

    private static JsonNode? Find(JsonObject lead, string field)
    {
        if (lead.TryGetPropertyValue(field, out var exact)) return exact;
        foreach (var (name, value) in lead)
            if (string.Equals(name, field, StringComparison.OrdinalIgnoreCase)) return value;
        return null;
    }
}
