using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.MarketoSandbox;
using Microsoft.Extensions.Time.Testing;

namespace KarteMarketo.FunctionalTests.KarteWriteBack;

/// <summary>The KARTE stand-in's own control surface over real HTTP: the slow fault (recorded at once, answered late),
/// exact repeats marked in its listing, and paging through what it received.</summary>
public sealed class KarteStandInTests
{
    private static StringContent Write(string userId, string name, string valuesJson) => new(
        $$"""{ "keys": { "user_id": "{{userId}}" }, "event": { "event_name": "{{name}}", "values": {{valuesJson}} } }""",
        Encoding.UTF8, "application/json");

    private static HttpClient Client(SandboxServer sandbox)
    {
        var http = new HttpClient { BaseAddress = new Uri(sandbox.KarteEndpoint + "/") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", sandbox.Karte.AppToken);
        return http;
    }

    [Fact]
    public async Task A_slow_call_is_recorded_at_once_and_answered_only_after_its_delay()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 4, 12, 0, 0, TimeSpan.Zero));
        await using var sandbox = await SandboxServer.StartAsync(null, time);
        using var http = Client(sandbox);
        using var control = new HttpClient { BaseAddress = new Uri(sandbox.KarteEndpoint + "/_karte/") };
        using (var fault = await control.PostAsync("faults", new StringContent("""{ "kind": "Slow", "count": 1, "delayMilliseconds": 5000 }""",
                   Encoding.UTF8, "application/json")))
            Assert.Equal(HttpStatusCode.NoContent, fault.StatusCode);

        var slow = http.PostAsync("v2/track/event/write", Write("s1", "step", """{ "n": 1 }"""));
        await Until(() => sandbox.Karte.Received.Count == 1);
        // Recorded, not answered: the clock has not moved.
        await Task.Delay(200);
        Assert.False(slow.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(4));
        await Task.Delay(100);
        Assert.False(slow.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1));
        using var answer = await slow.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);

        // The fault was for one call: the next is answered at once.
        using var next = await http.PostAsync("v2/track/event/write", Write("s1", "step", """{ "n": 2 }""")).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        using (var bad = await control.PostAsync("faults", new StringContent("""{ "kind": "Slow", "delayMilliseconds": -1 }""",
                   Encoding.UTF8, "application/json")))
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task The_listing_marks_exact_repeats_and_pages_in_arrival_order()
    {
        await using var sandbox = await SandboxServer.StartAsync();
        using var http = Client(sandbox);
        foreach (var (user, name, values) in new[]
                 {
                     ("r1", "step", """{ "a": 1, "b": { "x": "y", "z": 2 } }"""),
                     ("r1", "step", """{ "a": 2 }"""),
                     // The first again, members in another order: the same write.
                     ("r1", "step", """{ "b": { "z": 2, "x": "y" }, "a": 1 }"""),
                     // Same values for another user or under another name: not a repeat.
                     ("r2", "step", """{ "a": 1, "b": { "x": "y", "z": 2 } }"""),
                     ("r1", "other", """{ "a": 1, "b": { "x": "y", "z": 2 } }"""),
                 })
        {
            using var response = await http.PostAsync("v2/track/event/write", Write(user, name, values));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using var control = new HttpClient { BaseAddress = new Uri(sandbox.KarteEndpoint + "/_karte/") };
        var all = JsonNode.Parse(await control.GetStringAsync("received"))!;
        Assert.Equal(1, (long)all["repeats"]!);
        Assert.Equal(5, (int)all["events"]!);
        var received = all["received"]!.AsArray();
        Assert.Equal([null, null, 1L, null, null], received.Select(e => (long?)e!["repeatOf"]));
        Assert.NotNull((string?)all["firstCallAt"]);
        Assert.NotNull((string?)all["lastCallAt"]);

        var page = JsonNode.Parse(await control.GetStringAsync("received?after=2&limit=2"))!["received"]!.AsArray();
        Assert.Equal([3L, 4L], page.Select(e => (long)e!["sequence"]!));
        var last = JsonNode.Parse(await control.GetStringAsync("received?limit=2"))!["received"]!.AsArray();
        Assert.Equal([4L, 5L], last.Select(e => (long)e!["sequence"]!));
    }

    private static async Task Until(Func<bool> done)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (!done())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), "timed out");
            await Task.Delay(20);
        }
    }
}
