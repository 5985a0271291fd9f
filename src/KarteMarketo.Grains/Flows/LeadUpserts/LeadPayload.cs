using System.Text.Json.Nodes;

namespace KarteMarketo.Grains.Flows.LeadUpserts;

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
