using System.Text.Json.Nodes;

namespace KarteMarketo.Grains.Outbox;

/// <summary>
/// A custom activity as stored in the outbox: built from the KARTE event and the project's activity mapping when the
/// event is accepted, so a later change of the mapping does not change queued work.
/// </summary>
public sealed record ActivityPayload(string Event, int ActivityTypeId, string PrimaryAttributeValue, JsonObject Attributes,
    DateTimeOffset ActivityDate, string? Cookie)
{
    public JsonObject ToJson() => new()
    {
        ["event"] = Event,
        ["activityTypeId"] = ActivityTypeId,
        ["primaryAttributeValue"] = PrimaryAttributeValue,
        ["attributes"] = Attributes.DeepClone(),
        ["activityDate"] = ActivityDate.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        ["cookie"] = Cookie,
    };

    public static ActivityPayload FromJson(JsonObject json) => new(
        (string)json["event"]!,
        (int)json["activityTypeId"]!,
        (string)json["primaryAttributeValue"]!,
        json["attributes"] is JsonObject attributes ? (JsonObject)attributes.DeepClone() : [],
        DateTimeOffset.Parse((string)json["activityDate"]!, System.Globalization.CultureInfo.InvariantCulture),
        (string?)json["cookie"]);
}

/// <summary>A lead upsert as stored in the outbox. <see cref="Fields"/> are Marketo REST field names.</summary>
public sealed record LeadPayload(string Email, JsonObject Fields, string? Cookie)
{
    public JsonObject ToJson() => new()
    {
        ["email"] = Email,
        ["fields"] = Fields.DeepClone(),
        ["cookie"] = Cookie,
    };

    public static LeadPayload FromJson(JsonObject json) => new(
        (string)json["email"]!,
        json["fields"] is JsonObject fields ? (JsonObject)fields.DeepClone() : [],
        (string?)json["cookie"]);
}
