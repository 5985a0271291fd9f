using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KarteMarketo.Benchmarks.Hosting;

namespace KarteMarketo.Benchmarks.Scenarios;

/// <summary>What a scenario reports: a table for the console and a JSON object for the results file.</summary>
internal sealed class ScenarioReport(string name)
{
    public string Name => name;
    public List<(string Figure, string Value)> Rows { get; } = [];
    public JsonObject Data { get; } = new();
    public List<string> Notes { get; } = [];

    public void Row(string figure, string value) => Rows.Add((figure, value));

    public void Print(TextWriter output)
    {
        var width = Math.Max(10, Rows.Count == 0 ? 10 : Rows.Max(r => r.Figure.Length));
        output.WriteLine();
        output.WriteLine($"== {name} ==");
        foreach (var (figure, value) in Rows) output.WriteLine($"  {figure.PadRight(width)}  {value}");
        foreach (var note in Notes) output.WriteLine($"  note: {note}");
    }

    public JsonObject ToJson()
    {
        var json = new JsonObject { ["scenario"] = name };
        foreach (var (key, value) in Data) json[key] = value?.DeepClone();
        json["table"] = new JsonArray([.. Rows.Select(r => (JsonNode)new JsonObject { ["figure"] = r.Figure, ["value"] = r.Value })]);
        json["notes"] = new JsonArray([.. Notes.Select(n => (JsonNode)JsonValue.Create(n))]);
        return json;
    }
}

/// <summary>Request bodies and small helpers shared by the scenarios.</summary>
internal static class Bench
{
    public static string Identify(string userId, string email) =>
        $$$"""{"userId":"{{{userId}}}","event":"identify","values":{"email":"{{{email}}}"}}""";

    /// <summary>A JSON array of identify events for users <paramref name="first"/> .. first+count-1.</summary>
    public static string IdentifyBatch(long first, int count, Func<long, (string UserId, string Email)> user)
    {
        var body = new StringBuilder(count * 96);
        body.Append('[');
        for (var k = 0; k < count; k++)
        {
            if (k > 0) body.Append(',');
            var (userId, email) = user(first + k);
            body.Append(Identify(userId, email));
        }
        body.Append(']');
        return body.ToString();
    }

    /// <summary>POST …/events; the request must be answered 202. Returns <paramref name="events"/>.</summary>
    public static async Task<int> PostEventsAsync(HttpClient client, string projectId, string body, int events, CancellationToken cancellationToken)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await client.PostAsync($"/v1/projects/{projectId}/events", content, cancellationToken);
        if (response.StatusCode != HttpStatusCode.Accepted)
            throw new HttpStatusException((int)response.StatusCode, Http.Short(await response.Content.ReadAsStringAsync(cancellationToken)));
        return events;
    }

    /// <summary>POST …/events with a body encoded beforehand (the load generator's hot loop then allocates little, so its
    /// own collections stay out of the latencies it measures); the request must be answered 202.</summary>
    public static async Task<int> PostEventsAsync(HttpClient client, string path, byte[] body, int events, CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = JsonContentType;
        using var response = await client.PostAsync(path, content, cancellationToken);
        if (response.StatusCode != HttpStatusCode.Accepted)
            throw new HttpStatusException((int)response.StatusCode, Http.Short(await response.Content.ReadAsStringAsync(cancellationToken)));
        return events;
    }

    private static readonly System.Net.Http.Headers.MediaTypeHeaderValue JsonContentType = new("application/json") { CharSet = "utf-8" };

    public static string F(double value, string format = "0.0") =>
        double.IsNaN(value) || double.IsInfinity(value) ? "n/a" : value.ToString(format, CultureInfo.InvariantCulture);

    public static string F(double? value, string format = "0.0") => value is { } v ? F(v, format) : "n/a";

    public static string Latency(Latencies latencies) =>
        $"p50 {F(latencies.Ms(50), "0.00")} ms, p99 {F(latencies.Ms(99), "0.00")} ms, p99.9 {F(latencies.Ms(99.9), "0.00")} ms (n={latencies.Count})";

    public static JsonNode? ToNode<T>(T value) => JsonSerializer.SerializeToNode(value);

    /// <summary>Waits (bounded) until <paramref name="read"/> gives the same value for <paramref name="stableFor"/>.</summary>
    public static async Task<T> SettleAsync<T>(Func<CancellationToken, Task<T>> read, TimeSpan stableFor, TimeSpan timeout,
        CancellationToken cancellationToken) where T : IEquatable<T>
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var last = await read(cancellationToken);
        var lastChange = clock.Elapsed;
        while (clock.Elapsed < timeout)
        {
            await Task.Delay(500, cancellationToken);
            var now = await read(cancellationToken);
            if (!now.Equals(last))
            {
                last = now;
                lastChange = clock.Elapsed;
            }
            else if (clock.Elapsed - lastChange >= stableFor)
            {
                break;
            }
        }
        return last;
    }

    /// <summary>Reads <c>sync.lastResult</c> of a user-info document ("synced" where the lead id is there).</summary>
    public static string Outcome(JsonObject? user)
    {
        if (user is null) return "unknown-user";
        if (user["identify"]?["marketo"]?["id"] is not null) return "synced";
        return (string?)user["sync"]?["lastResult"] ?? "none";
    }
}
