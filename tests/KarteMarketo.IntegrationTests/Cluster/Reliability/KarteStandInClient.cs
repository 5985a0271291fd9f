using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace KarteMarketo.IntegrationTests.Cluster.Reliability;

/// <summary>
/// The KARTE stand-in of a sandbox process (<c>{sandbox}/karte</c>, the projects' <c>karte.endpoint</c>) through its
/// control routes (<c>/karte/_karte/…</c>): what it received, its faults.
/// </summary>
public sealed class KarteStandInClient(Uri sandboxBaseAddress) : IDisposable
{
    /// <summary>The token the standalone sandbox accepts by default (<c>Sandbox:Karte:AppToken</c>).</summary>
    public const string AppToken = "karte-sandbox-app-token";

    private readonly HttpClient control = new() { BaseAddress = new Uri(sandboxBaseAddress, "karte/_karte/"), Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>What a project's <c>karte.endpoint</c> is set to.</summary>
    public Uri Endpoint { get; } = new(sandboxBaseAddress, "karte");

    /// <summary>A project's <c>karte</c> settings writing to this stand-in.</summary>
    public JsonObject Settings(int requestsPerSecond) => new()
    {
        ["enabled"] = true,
        ["endpoint"] = Endpoint.ToString(),
        ["appToken"] = AppToken,
        ["requestsPerSecond"] = requestsPerSecond,
        ["writeOnlyOnChange"] = true,
    };

    /// <summary>Everything received, in arrival order (paged through <c>?after=</c>), and the stand-in's figures.</summary>
    public async Task<KarteReceived> ReceivedAsync()
    {
        var events = new List<KarteReceivedWrite>();
        JsonObject? head = null;
        long after = 0;
        while (true)
        {
            var page = JsonNode.Parse(await control.GetStringAsync($"received?after={after}&limit=10000"))!.AsObject();
            head ??= page;
            var received = page["received"]!.AsArray();
            foreach (var e in received)
            {
                events.Add(new KarteReceivedWrite((long)e!["sequence"]!, (string?)e["userId"], (string)e["eventName"]!,
                    e["values"]!.AsObject(), (DateTimeOffset)e["at"]!, (long?)e["repeatOf"]));
            }
            if (received.Count < 10000) break;
            after = events[^1].Sequence;
        }
        return new KarteReceived(events, (int)head["maxRequestsPerSecond"]!, (long)head["calls"]!, (long)head["repeats"]!,
            head["answers"]!.AsObject());
    }

    /// <summary>Every write call from now on is handled as usual but answered <paramref name="delay"/> late.</summary>
    public Task SlowAsync(TimeSpan delay) => FaultAsync(new JsonObject
    {
        ["kind"] = "Slow", ["count"] = 1_000_000, ["delayMilliseconds"] = (int)delay.TotalMilliseconds,
    });

    public async Task FaultAsync(JsonObject fault)
    {
        using var response = await control.PostAsJsonAsync("faults", fault);
        response.EnsureSuccessStatusCode();
    }

    public async Task ClearFaultsAsync()
    {
        using var response = await control.DeleteAsync("faults");
        response.EnsureSuccessStatusCode();
    }

    public void Dispose() => control.Dispose();
}

/// <summary>One event the stand-in recorded; <paramref name="RepeatOf"/> where it repeats an earlier one exactly.</summary>
public sealed record KarteReceivedWrite(long Sequence, string? UserId, string EventName, JsonObject Values, DateTimeOffset At, long? RepeatOf);

/// <summary>The stand-in's listing: events in arrival order, the most calls it saw in one second, calls, exact repeats,
/// answers by status.</summary>
public sealed record KarteReceived(IReadOnlyList<KarteReceivedWrite> Events, int MaxRequestsPerSecond, long Calls, long Repeats, JsonObject Answers);
