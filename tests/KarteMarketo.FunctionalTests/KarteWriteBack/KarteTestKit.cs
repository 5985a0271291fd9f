using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.MarketoSandbox;
using KarteMarketo.MarketoSandbox.Karte;

namespace KarteMarketo.FunctionalTests.KarteWriteBack;

/// <summary>
/// A project on its own sandbox whose <c>karte.endpoint</c> is that sandbox's KARTE stand-in (real HTTP), on the app's
/// fake clock: the service's dispatcher, its rate gate and retries, and the stand-in's per-second measure all run on it.
/// </summary>
internal sealed class KarteTestKit : IAsyncDisposable
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private KarteTestKit(KarteMarketoAppFactory app, SandboxServer sandbox, CreatedProject project)
    {
        App = app;
        Sandbox = sandbox;
        Project = project;
        Admin = app.CreateAdminClient();
        Events = app.CreateProjectClient(project.ApiKey);
    }

    public KarteMarketoAppFactory App { get; }
    public SandboxServer Sandbox { get; }
    public KarteStandIn Karte => Sandbox.Karte;
    public CreatedProject Project { get; }
    public string ProjectId => Project.ProjectId;
    public HttpClient Admin { get; }
    public HttpClient Events { get; }

    public static async Task<KarteTestKit> StartAsync(KarteMarketoAppFactory app, string projectId, int requestsPerSecond = 20,
        bool writeOnlyOnChange = true, Action<SandboxState>? seed = null, Action<JsonObject>? more = null)
    {
        var sandbox = await SandboxServer.StartAsync(null, app.Time);
        seed?.Invoke(sandbox.State);
        var project = await app.CreateProjectAsync(projectId, sandbox.RestEndpoint, sandbox.IdentityEndpoint, sandbox.ClientId,
            sandbox.ClientSecret, settings =>
            {
                settings["realtimeSync"] = new JsonObject
                {
                    ["enabled"] = true, ["keys"] = new JsonArray("email", "cookie"), ["resyncWindowSeconds"] = 60, ["batchDelayMilliseconds"] = 1000,
                };
                settings["periodicSync"] = new JsonObject { ["enabled"] = false };
                settings["karte"] = KarteSettings(sandbox, requestsPerSecond, writeOnlyOnChange);
                more?.Invoke(settings);
            });
        return new KarteTestKit(app, sandbox, project);
    }

    public static JsonObject KarteSettings(SandboxServer sandbox, int requestsPerSecond = 20, bool writeOnlyOnChange = true, string? token = null) => new()
    {
        ["enabled"] = true,
        ["endpoint"] = sandbox.KarteEndpoint.ToString(),
        ["appToken"] = token ?? sandbox.Karte.AppToken,
        ["requestsPerSecond"] = requestsPerSecond,
        ["writeOnlyOnChange"] = writeOnlyOnChange,
    };

    public static JsonObject Identify(string userId, string email) =>
        new() { ["userId"] = userId, ["event"] = "identify", ["values"] = new JsonObject { ["email"] = email } };

    public async Task SendAsync(IReadOnlyList<JsonObject> events)
    {
        for (var i = 0; i < events.Count; i += 1_000)
        {
            var batch = new JsonArray([.. events.Skip(i).Take(1_000).Select(e => (JsonNode)e.DeepClone())]);
            using var response = await Events.PostAsJsonAsync($"/v1/projects/{ProjectId}/events", batch);
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        }
    }

    public async Task<JsonObject?> GetUserAsync(string userId)
    {
        using var response = await Admin.GetAsync($"/v1/projects/{ProjectId}/users/{Uri.EscapeDataString(userId)}");
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        return JsonNode.Parse(body)!.AsObject();
    }

    public async Task<JsonObject> KarteWritesAsync(string? status = null, int limit = 1000)
    {
        var query = $"?limit={limit}" + (status is null ? "" : $"&status={status}");
        using var response = await Admin.GetAsync($"/v1/projects/{ProjectId}/karte-writes{query}");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        return JsonNode.Parse(body)!.AsObject();
    }

    public async Task<long> CountAsync(string status) => (long)(await KarteWritesAsync(limit: 1))["counts"]![status]!;

    /// <summary>What the stand-in recorded for a user (KARTE user id), in arrival order.</summary>
    public IReadOnlyList<KarteReceivedEvent> ReceivedFor(string userId) => [.. Karte.Received.Where(e => e.UserId == userId)];

    /// <summary>Moves the clock in steps until <paramref name="done"/> holds, bounded by real time.</summary>
    public async Task AdvanceUntilAsync(Func<Task<bool>> done, string what, TimeSpan? step = null)
    {
        var watch = Stopwatch.StartNew();
        while (!await done())
        {
            if (watch.Elapsed > Bound)
                Assert.Fail($"Timed out waiting for: {what}\n{(await KarteWritesAsync(limit: 20)).ToJsonString()}\n{Karte.ToJson(limit: 20).ToJsonString()}");
            await Task.Run(() => App.Time.Advance(step ?? TimeSpan.FromMilliseconds(500)));
            await Task.Delay(15);
        }
    }

    public Task AdvanceUntilAsync(Func<bool> done, string what, TimeSpan? step = null) =>
        AdvanceUntilAsync(() => Task.FromResult(done()), what, step);

    /// <summary>Lets the service run for <paramref name="duration"/> of test time, in steps (to show that nothing more happens).</summary>
    public async Task RunForAsync(TimeSpan duration, TimeSpan? step = null)
    {
        for (var moved = TimeSpan.Zero; moved < duration; moved += step ?? TimeSpan.FromMilliseconds(500))
        {
            await Task.Run(() => App.Time.Advance(step ?? TimeSpan.FromMilliseconds(500)));
            await Task.Delay(15);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        Events.Dispose();
        await Sandbox.DisposeAsync();
    }
}
