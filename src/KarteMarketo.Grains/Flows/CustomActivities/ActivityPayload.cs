using System.Text.Json.Nodes;

using KarteMarketo.Grains.Outbox;

namespace KarteMarketo.Grains.Flows.CustomActivities;

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
