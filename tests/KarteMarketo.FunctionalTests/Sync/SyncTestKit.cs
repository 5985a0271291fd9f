using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KarteMarketo.Contracts;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.MarketoSandbox;
using Microsoft.Extensions.DependencyInjection;
using Orleans;

namespace KarteMarketo.FunctionalTests.Sync;

/// <summary>
/// What the lead-sync tests share: a project on its own sandbox (its own Marketo instance, so its own quota) on the
/// app's fake clock, and helpers that send events, read user info, and wait for the service with a real-time bound.
/// </summary>
internal sealed class SyncTestKit : IAsyncDisposable
{
    /// <summary>How long (real time) a test waits for HTTP and grain work to finish after moving the clock.</summary>
    public static readonly TimeSpan WaitBound = TimeSpan.FromSeconds(5);

    private SyncTestKit(KarteMarketoAppFactory app, SandboxServer sandbox, CreatedProject project)
    {
        App = app;
        Sandbox = sandbox;
        Project = project;
        Admin = app.CreateAdminClient();
        Events = app.CreateProjectClient(project.ApiKey);
    }

    public KarteMarketoAppFactory App { get; }
    public SandboxServer Sandbox { get; }
    public CreatedProject Project { get; }
    public string ProjectId => Project.ProjectId;
    public HttpClient Admin { get; }
    public HttpClient Events { get; }

    public static async Task<SyncTestKit> StartAsync(KarteMarketoAppFactory app, string projectId, Action<JsonObject>? customize = null,
        SandboxOptions? sandboxOptions = null, Action<SandboxState>? seed = null)
    {
        var sandbox = await SandboxServer.StartAsync(sandboxOptions, app.Time);
        seed?.Invoke(sandbox.State);
        var project = await app.CreateProjectAsync(projectId, sandbox.RestEndpoint, sandbox.IdentityEndpoint,
            sandbox.ClientId, sandbox.ClientSecret, customize);
        return new SyncTestKit(app, sandbox, project);
    }

    /// <summary>Settings JSON helpers.</summary>
    public static Action<JsonObject> Settings(bool realtime = true, int batchDelayMs = 1000, int resyncWindowSeconds = 86_400,
        bool periodic = false, int intervalMinutes = 30, string[]? keys = null, Action<JsonObject>? more = null) => settings =>
    {
        settings["realtimeSync"] = new JsonObject
        {
            ["enabled"] = realtime,
            ["keys"] = new JsonArray([.. (keys ?? ["email", "cookie"]).Select(k => (JsonNode)k)]),
            ["resyncWindowSeconds"] = resyncWindowSeconds,
            ["batchDelayMilliseconds"] = batchDelayMs,
        };
        settings["periodicSync"] = new JsonObject { ["enabled"] = periodic, ["intervalMinutes"] = intervalMinutes };
        more?.Invoke(settings);
    };

    public static JsonObject Identify(string userId, string? email = null, string? cookie = null)
    {
        var values = new JsonObject();
        if (email is not null) values["email"] = email;
        if (cookie is not null) values["marketo_cookie"] = cookie;
        return new JsonObject { ["userId"] = userId, ["event"] = "identify", ["values"] = values };
    }

    /// <summary>Posts events in requests of up to 1,000 and checks each is accepted whole.</summary>
    public async Task SendAsync(IReadOnlyList<JsonObject> events)
    {
        for (var i = 0; i < events.Count; i += 1_000)
        {
            var batch = new JsonArray([.. events.Skip(i).Take(1_000).Select(e => (JsonNode)e.DeepClone())]);
            using var response = await Events.PostAsJsonAsync($"/v1/projects/{ProjectId}/events", batch);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode} {body}");
            Assert.Equal(batch.Count, (int)JsonNode.Parse(body)!["accepted"]!);
        }
    }

    /// <summary>The user info document, or null for 404.</summary>
    public async Task<JsonObject?> GetUserAsync(string userId)
    {
        using var response = await Admin.GetAsync($"/v1/projects/{ProjectId}/users/{Uri.EscapeDataString(userId)}");
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!.AsObject();
    }

    public async Task<JsonObject> GetSegmentAsync(string segment, int? limit = null, string? after = null)
    {
        var query = new List<string>();
        if (limit is not null) query.Add($"limit={limit}");
        if (after is not null) query.Add($"after={Uri.EscapeDataString(after)}");
        using var response = await Admin.GetAsync($"/v1/projects/{ProjectId}/segments/{segment}" + (query.Count > 0 ? "?" + string.Join('&', query) : ""));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!.AsObject();
    }

    public async Task<long> SegmentCountAsync(string segment) => (long)(await GetSegmentAsync(segment, limit: 1))["count"]!;

    public static long? LeadIdOf(JsonObject? user) => (long?)user?["identify"]?["marketo"]?["id"];

    public static string? LastResultOf(JsonObject? user) => (string?)user?["sync"]?["lastResult"];

    public Task<SyncSchedulerStatus> SchedulerStatusAsync() =>
        App.Services.GetRequiredService<IGrainFactory>().GetGrain<ISyncSchedulerGrain>(GrainKeys.SyncScheduler(ProjectId)).GetStatusAsync();

    /// <summary>Lead lookups the sandbox answered (Get Leads), any outcome.</summary>
    public int LookupCalls => Sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads);

    /// <summary>Polls <paramref name="condition"/> until it holds, for at most <see cref="WaitBound"/> of real time.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, TimeSpan? bound = null,
        Func<Task<string>>? diagnostics = null)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > (bound ?? WaitBound))
                Assert.Fail($"Timed out waiting for: {what}" + (diagnostics is null ? "" : "\n" + await diagnostics()));
            await Task.Delay(20);
        }
    }

    /// <summary>Moves the fake clock by <paramref name="step"/> and checks, again and again, until the condition holds
    /// (for chains of batched steps: an email lookup that hands over to a cookie lookup, each waiting its batch delay).</summary>
    public async Task AdvanceUntilAsync(TimeSpan step, Func<Task<bool>> condition, string what, TimeSpan? bound = null,
        Func<Task<string>>? diagnostics = null)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            await AdvanceAsync(step);
            var inner = Stopwatch.StartNew();
            while (inner.Elapsed < TimeSpan.FromMilliseconds(250))
            {
                if (await condition()) return;
                await Task.Delay(20);
            }
            if (watch.Elapsed > (bound ?? WaitBound))
                Assert.Fail($"Timed out waiting for: {what}" + (diagnostics is null ? "" : "\n" + await diagnostics()));
        }
    }

    /// <summary>
    /// Moves the clock a minute at a time until the scheduler's reminder has ticked once more. The in-memory reminder
    /// service arms a newly registered reminder only when its own clock-driven loop next runs; one big jump past the
    /// due time would let it arm the reminder for the following period instead. Once armed, later ticks follow a
    /// single jump of the interval.
    /// </summary>
    public async Task AdvanceToNextTickAsync(TimeSpan interval)
    {
        var before = (await SchedulerStatusAsync()).LastTickAt;
        var watch = Stopwatch.StartNew();
        for (var moved = TimeSpan.Zero; moved <= interval + TimeSpan.FromMinutes(2); moved += TimeSpan.FromMinutes(1))
        {
            await AdvanceAsync(TimeSpan.FromMinutes(1));
            var settle = Stopwatch.StartNew();
            while (settle.Elapsed < TimeSpan.FromMilliseconds(40))
            {
                if ((await SchedulerStatusAsync()).LastTickAt != before) return;
                await Task.Delay(5);
            }
        }
        await WaitUntilAsync(async () => (await SchedulerStatusAsync()).LastTickAt != before, "the scheduler's tick",
            diagnostics: () => DumpAsync());
    }

    /// <summary>The scheduler's status, the users' info and the sandbox's calls, for a failure message.</summary>
    public async Task<string> DumpAsync(params string[] users)
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine($"now {App.Time.GetUtcNow():O}; scheduler {await SchedulerStatusAsync()}");
        foreach (var user in users) text.AppendLine($"{user}: {(await GetUserAsync(user))?.ToJsonString() ?? "404"}");
        foreach (var (endpoint, codes) in Sandbox.Counters.CallsByEndpointAndCode)
            text.AppendLine($"{endpoint}: {string.Join(", ", codes.Select(c => $"{c.Key}={c.Value}"))}");
        return text.ToString();
    }

    /// <summary>Moves the fake clock (off the test's context: the timers it fires run their callbacks inline).</summary>
    public Task AdvanceAsync(TimeSpan by) => Task.Run(() => App.Time.Advance(by));

    /// <summary>No breach of Marketo's limits (100 calls per 20 s, 10 in flight, the daily quota) and no 606/615/607.</summary>
    public void AssertMarketoLimitsKept()
    {
        var counters = Sandbox.Counters;
        Assert.Empty(counters.Breaches);
        Assert.True(counters.MaxInFlight <= 10, $"max in flight {counters.MaxInFlight}");
        Assert.True(counters.MaxCallsInWindow <= 100, $"max calls per 20 s {counters.MaxCallsInWindow}");
        Assert.DoesNotContain(counters.Calls, c => c.Code is "606" or "615" or "607");
    }

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        Events.Dispose();
        await Sandbox.DisposeAsync();
    }
}
