using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;

namespace KarteMarketo.FunctionalTests.Outbox;

/// <summary>Helpers shared by the webhook and outbox tests: identify users, read JSON, move the test clock until done.</summary>
internal static class OutboxTestKit
{
    /// <summary>Real time allowed for background work to finish while the test clock is moved.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    /// <summary>Links users to emails (and cookies) with identify events through the public events endpoint.</summary>
    public static async Task IdentifyAsync(KarteMarketoAppFactory app, CreatedProject project,
        IEnumerable<(string UserId, string? Email, string? Cookie)> users)
    {
        using var client = app.CreateProjectClient(project.ApiKey);
        foreach (var chunk in users.Chunk(1000))
        {
            var body = new JsonArray([.. chunk.Select(u =>
            {
                var values = new JsonObject();
                if (u.Email is not null) values["email"] = u.Email;
                if (u.Cookie is not null) values["marketo_cookie"] = u.Cookie;
                return (JsonNode)new JsonObject { ["userId"] = u.UserId, ["event"] = "identify", ["values"] = values };
            })]);
            using var response = await client.PostAsJsonAsync($"/v1/projects/{project.ProjectId}/events", body);
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        }
    }

    public static async Task<(HttpStatusCode Status, JsonNode? Body, string? ContentType)> ReadAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text), response.Content.Headers.ContentType?.MediaType);
    }

    public static async Task<JsonObject> GetJsonAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>
    /// Moves the test clock by <paramref name="step"/> until <paramref name="done"/> holds: dispatchers, lookup batchers
    /// and retries all run on that clock. Bounded by real time, so a stuck flow fails instead of hanging.
    /// </summary>
    public static async Task AdvanceUntilAsync(KarteMarketoAppFactory app, Func<Task<bool>> done, TimeSpan? step = null,
        TimeSpan? patience = null, string? what = null)
    {
        var watch = Stopwatch.StartNew();
        while (!await done())
        {
            if (watch.Elapsed > (patience ?? Patience))
                throw new TimeoutException($"Not done after {watch.Elapsed.TotalSeconds:0}s of real time: {what}");
            app.Time.Advance(step ?? TimeSpan.FromSeconds(1));
            // Gives the silo's threads a moment to run what the clock released.
            await Task.Delay(20);
        }
    }

    public static Task AdvanceUntilAsync(KarteMarketoAppFactory app, Func<bool> done, TimeSpan? step = null, TimeSpan? patience = null,
        string? what = null) => AdvanceUntilAsync(app, () => Task.FromResult(done()), step, patience, what);
}
