using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.Grains.Flows.LeadSync;

namespace KarteMarketo.Grains.Flows.KarteWriteBack;

/// <summary>
/// What a KARTE outbox row holds (<c>{ "event_name": …, "values": { … } }</c>; the user is the row's <c>user_id</c>)
/// and the rules about it: reserved event names, the user-info hash of <c>karte.writeOnlyOnChange</c>.
/// </summary>
public static class KarteWritePayload
{
    public const string IdentifyEvent = "identify";

    /// <summary>KARTE's <c>user_id</c> limit (karte-facts.md).</summary>
    public const int MaxUserIdBytes = 512;

    /// <summary>The hash remembered for a user written as gone (<c>marketo: null</c>), so that is written once.</summary>
    public const string GoneHash = "gone";

    /// <summary>Event names KARTE does not let the write API record (karte-facts.md).</summary>
    public static IReadOnlySet<string> ReservedEventNames { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "page", "req", "enter_group", "leave_group", "view", "group", "message_send", "date", "message_open",
        "message_click", "message_clicked", "message_close",
    };

    public static JsonObject Build(string eventName, JsonObject values) =>
        new() { ["event_name"] = eventName, ["values"] = values.DeepClone() };

    public static (string EventName, JsonObject Values) Parse(JsonObject payload) =>
        ((string?)payload["event_name"] ?? IdentifyEvent, payload["values"] as JsonObject ?? []);

    /// <summary>The values a gone lead is written with: KARTE keeps user info by accumulation, so the fields are
    /// overwritten with null rather than left out.</summary>
    public static JsonObject GoneValues() => new() { [UserInfoBuilder.MarketoProperty] = null, [UserInfoBuilder.HashProperty] = null };

    /// <summary>SHA-256 (hex) of the identify values without <c>marketo._karte_last_sync_date</c>, which changes on
    /// every sync and would make every result look new.</summary>
    public static string ValuesHash(JsonObject identify)
    {
        var copy = identify.DeepClone().AsObject();
        if (copy[UserInfoBuilder.MarketoProperty] is JsonObject marketo) marketo.Remove(UserInfoBuilder.LastSyncProperty);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(copy.ToJsonString())));
    }

    /// <summary>Whether KARTE would take <paramref name="userId"/> as a <c>user_id</c>.</summary>
    public static bool IsWritableUserId(string userId) => userId.Length > 0 && Encoding.UTF8.GetByteCount(userId) <= MaxUserIdBytes;
}

/// <summary>A sync result's instruction to the user store: also queue the user info for KARTE, in the same commit.</summary>
/// <param name="OnlyOnChange"><c>karte.writeOnlyOnChange</c>: skip users whose values are unchanged.</param>
public sealed record KarteUserInfoWrite(bool OnlyOnChange);

/// <summary>A write to queue. <see cref="ValuesHash"/> set: user info, skipped when <see cref="OnlyOnChange"/> and the
/// user's remembered hash is the same; null: an event, always queued.</summary>
public sealed record KarteQueuedWrite(string DeliveryId, string UserId, string EventName, JsonObject Values)
{
    public string? ValuesHash { get; init; }
    public bool OnlyOnChange { get; init; }

    /// <summary>The user info write of a sync result: exactly the stored <c>identify</c> object.</summary>
    public static KarteQueuedWrite UserInfo(string userId, JsonObject identify, DateTimeOffset syncedAt, bool onlyOnChange)
    {
        var hash = KarteWritePayload.ValuesHash(identify);
        return new KarteQueuedWrite($"identify:{syncedAt.UtcTicks}:{hash[..16]}:{userId}", userId, KarteWritePayload.IdentifyEvent, identify)
            { ValuesHash = hash, OnlyOnChange = onlyOnChange };
    }
}
