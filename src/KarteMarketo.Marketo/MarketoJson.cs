using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace KarteMarketo.Marketo;

/// <summary>Lenient readers for Marketo's responses: absent or null arrays, codes as strings or numbers, warnings as
/// strings or objects, <c>reasons</c> arrays or the spec's singular <c>reason</c>.</summary>
internal static class MarketoJson
{
    public static string? String(JsonNode? node) => node switch
    {
        JsonValue value when value.GetValueKind() == JsonValueKind.String => value.GetValue<string>(),
        JsonValue value when value.GetValueKind() is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.ToJsonString(),
        _ => null,
    };

    public static long? Long(JsonNode? node) => node switch
    {
        JsonValue value when value.GetValueKind() == JsonValueKind.Number && value.TryGetValue<long>(out var number) => number,
        JsonValue value when value.GetValueKind() == JsonValueKind.Number && value.TryGetValue<double>(out var real) => (long)real,
        JsonValue value when value.GetValueKind() == JsonValueKind.String &&
                             long.TryParse(value.GetValue<string>(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) => parsed,
        _ => null,
    };

    public static bool Bool(JsonNode? node) => node is JsonValue value &&
        (value.GetValueKind() == JsonValueKind.True ||
         value.GetValueKind() == JsonValueKind.String && string.Equals(value.GetValue<string>(), "true", StringComparison.OrdinalIgnoreCase));

    public static IEnumerable<JsonNode> Array(JsonNode? node) => node is JsonArray array ? array.OfType<JsonNode>() : [];

    /// <summary>An error list: an array of <c>{code, message}</c> (code string or number), a single object, or absent.</summary>
    public static IReadOnlyList<MarketoError> Errors(JsonNode? node) => node switch
    {
        JsonArray array => [.. array.Select(Error).OfType<MarketoError>()],
        JsonObject single => Error(single) is { } error ? [error] : [],
        _ => [],
    };

    private static MarketoError? Error(JsonNode? node) => node switch
    {
        JsonObject obj => new MarketoError(String(obj["code"]) ?? "", String(obj["message"]) ?? ""),
        JsonValue value when String(value) is { } text => new MarketoError("", text),
        _ => null,
    };
}
