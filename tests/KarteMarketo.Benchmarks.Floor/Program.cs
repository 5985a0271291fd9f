using System.Text.Json;
using System.Text.Json.Serialization;

// The floor (issue 18): what the same machine does with the same identify bodies when nothing but Kestrel, routing and
// a source-generated System.Text.Json parse stand between the socket and the 202. The harness starts it exactly like
// the server (dotnet <dll>, ASPNETCORE_URLS on loopback) and reports every ingest figure as a ratio to it.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, FloorJson.Default));
var app = builder.Build();

app.MapGet("/ready", () => TypedResults.Ok());
app.MapPost("/v1/projects/{projectId}/events", async (string projectId, HttpRequest request, CancellationToken cancellationToken) =>
{
    // The server refuses requests without a key before reading the body; the floor only checks it is there.
    if (!request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.Ordinal)) return Results.Unauthorized();
    var accepted = await FloorParse.CountAsync(request, cancellationToken);
    return accepted < 0 ? Results.BadRequest() : Results.Accepted(null, new FloorAccepted(accepted));
});
await app.RunAsync();

internal static class FloorParse
{
    /// <summary>Parses one identify event or an array of them straight from the body; returns how many (−1: not valid).</summary>
    public static async Task<int> CountAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        try
        {
            var result = await request.BodyReader.ReadAsync(cancellationToken);
            while (!result.IsCompleted)
            {
                request.BodyReader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                result = await request.BodyReader.ReadAsync(cancellationToken);
            }
            var count = Parse(result.Buffer);
            request.BodyReader.AdvanceTo(result.Buffer.End);
            return count;
        }
        catch (JsonException)
        {
            return -1;
        }
    }

    private static int Parse(System.Buffers.ReadOnlySequence<byte> body)
    {
        var reader = new Utf8JsonReader(body);
        if (!reader.Read()) return -1;
        if (reader.TokenType == JsonTokenType.StartArray)
        {
            var events = JsonSerializer.Deserialize(ref reader, FloorJson.Default.FloorEventArray);
            return events is null || events.Any(e => e.UserId is null) ? -1 : events.Length;
        }
        var single = JsonSerializer.Deserialize(ref reader, FloorJson.Default.FloorEvent);
        return single?.UserId is null ? -1 : 1;
    }
}

internal sealed record FloorEvent(string? UserId, string? Event, FloorValues? Values);

internal sealed record FloorValues(string? Email, [property: JsonPropertyName("marketo_cookie")] string? MarketoCookie);

internal sealed record FloorAccepted(int Accepted);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(FloorEvent))]
[JsonSerializable(typeof(FloorEvent[]))]
[JsonSerializable(typeof(FloorAccepted))]
internal sealed partial class FloorJson : JsonSerializerContext;
