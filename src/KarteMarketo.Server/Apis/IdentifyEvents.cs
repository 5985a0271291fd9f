using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace KarteMarketo.Server.Apis;

/// <summary>
/// The events endpoint's fast reading (issue 18): one identify event or an array of up to
/// <see cref="EventsApi.MaxEventsPerRequest"/>, read straight from the checked UTF-8 body by source-generated
/// System.Text.Json into small records. Only the plain shape is read here (<c>userId</c>, <c>event</c> and
/// <c>values</c> holding only <c>email</c> and <c>marketo_cookie</c>, all strings, no member twice); anything else,
/// valid or not, gets null and goes to the general reading, which names every problem by its path.
/// </summary>
internal static class IdentifyEvents
{
    private static readonly JsonSerializerOptions Options = new()
    {
        TypeInfoResolver = IdentifyEventsJson.Default,
        AllowDuplicateProperties = false,
        MaxDepth = 64,
        NumberHandling = JsonNumberHandling.Strict,
        PropertyNameCaseInsensitive = false,
    };

    private static readonly JsonTypeInfo<IdentifyEvent> One = (JsonTypeInfo<IdentifyEvent>)Options.GetTypeInfo(typeof(IdentifyEvent));
    private static readonly JsonTypeInfo<IdentifyEvent[]> Many = (JsonTypeInfo<IdentifyEvent[]>)Options.GetTypeInfo(typeof(IdentifyEvent[]));

    /// <summary>The events, or null where the body is not the plain identify shape.</summary>
    public static IdentifyEvent[]? TryRead(ReadOnlySpan<byte> utf8)
    {
        try
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = 64, CommentHandling = JsonCommentHandling.Disallow });
            if (!reader.Read()) return null;
            IdentifyEvent[]? events;
            if (reader.TokenType == JsonTokenType.StartArray)
            {
                events = JsonSerializer.Deserialize(ref reader, Many);
                if (events is null || events.Length is 0 or > EventsApi.MaxEventsPerRequest || Array.IndexOf(events, null) >= 0) return null;
            }
            else if (reader.TokenType == JsonTokenType.StartObject)
            {
                events = JsonSerializer.Deserialize(ref reader, One) is { } single ? [single] : null;
            }
            else
            {
                return null;
            }
            // Nothing may follow the document (the general reading refuses trailing content).
            return events is not null && !reader.Read() ? events : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>An identify event in the plain shape.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed class IdentifyEvent
{
    [JsonPropertyName("userId")] public string? UserId { get; set; }
    [JsonPropertyName("event"), JsonConverter(typeof(EventNameConverter))] public string? Event { get; set; }
    [JsonPropertyName("values")] public IdentifyValues? Values { get; set; }
}

/// <summary>Reads an event name as any string, but gives the one shared <c>"identify"</c> for that name rather than a
/// new string per event: a 100-event batch made 100 copies of it for the collector (issue 18).</summary>
internal sealed class EventNameConverter : JsonConverter<string>
{
    private const string Identify = "identify";

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String) throw new JsonException("event must be a string");
        return reader.ValueTextEquals("identify"u8) ? Identify : reader.GetString();
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);
}

/// <summary>The keys of an identify event.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed class IdentifyValues
{
    [JsonPropertyName("email")] public string? Email { get; set; }
    [JsonPropertyName("marketo_cookie")] public string? MarketoCookie { get; set; }
}

[JsonSerializable(typeof(IdentifyEvent))]
[JsonSerializable(typeof(IdentifyEvent[]))]
internal sealed partial class IdentifyEventsJson : JsonSerializerContext;
