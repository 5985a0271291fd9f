using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KarteMarketo.Contracts;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.MarketoSandbox;
using KarteMarketo.MarketoSandbox.Karte;
using Microsoft.Extensions.DependencyInjection;
using Orleans;

namespace KarteMarketo.FunctionalTests.Sync;

/// <summary>
/// What the lead-sync and KARTE write-back tests share: a project on its own sandbox (its own Marketo instance, so its
/// own quota, and its own KARTE stand-in, real HTTP) on the app's fake clock, and helpers that send events, read user
/// info and KARTE writes, and wait for the service with a real-time bound.
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

    /// <summary>A project whose <c>karte.endpoint</c> is its sandbox's KARTE stand-in: the service's dispatcher, its rate
    /// gate and retries, and the stand-in's per-second measure all run on the app's fake clock. Realtime sync of both
    /// keys (60 s window), no periodic sync.</summary>
    public static async Task<SyncTestKit> StartWithKarteAsync(KarteMarketoAppFactory app, string projectId, int requestsPerSecond = 20,
        bool writeOnlyOnChange = true, Action<SandboxState>? seed = null, Action<JsonObject>? more = null)
    {
        var sandbox = await SandboxServer.StartAsync(null, app.Time);
        seed?.Invoke(sandbox.State);
        var project = await app.CreateProjectAsync(projectId, sandbox.RestEndpoint, sandbox.IdentityEndpoint, sandbox.ClientId,
            sandbox.ClientSecret, settings =>
            {
                Settings(resyncWindowSeconds: 60)(settings);
                settings["karte"] = KarteSettings(sandbox, requestsPerSecond, writeOnlyOnChange);
                more?.Invoke(settings);
            });
        return new SyncTestKit(app, sandbox, project);
    }

    /// <summary>The <c>karte</c> settings block pointing at <paramref name="sandbox"/>'s KARTE stand-in.</summary>
    public static JsonObject KarteSettings(SandboxServer sandbox, int requestsPerSecond = 20, bool writeOnlyOnChange = true, string? token = null) => new()
    {
        ["enabled"] = true,
        ["endpoint"] = sandbox.KarteEndpoint.ToString(),
        ["appToken"] = token ?? sandbox.Karte.AppToken,
        ["requestsPerSecond"] = requestsPerSecond,
        ["writeOnlyOnChange"] = writeOnlyOnChange,
    };

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

    /// <summary>The sandbox's KARTE stand-in.</summary>
    public KarteStandIn Karte => Sandbox.Karte;

    /// <summary>How long (real time) the KARTE tests wait for the dispatcher while moving the clock in small steps.</summary>
    public static readonly TimeSpan KarteBound = TimeSpan.FromSeconds(30);

    /// <summary><c>GET …/karte-writes</c> (checked 200).</summary>
    public async Task<JsonObject> KarteWritesAsync(string? status = null, int limit = 1000)
    {
        var query = $"?limit={limit}" + (status is null ? "" : $"&status={status}");
        using var response = await Admin.GetAsync($"/v1/projects/{ProjectId}/karte-writes{query}");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        return JsonNode.Parse(body)!.AsObject();
    }

    /// <summary>KARTE writes in one status (<c>counts</c> of <c>GET …/karte-writes</c>).</summary>
    public async Task<long> CountAsync(string status) => (long)(await KarteWritesAsync(limit: 1))["counts"]![status]!;

    /// <summary>What the stand-in recorded for a user (KARTE user id), in arrival order.</summary>
    public IReadOnlyList<KarteReceivedEvent> ReceivedFor(string userId) => [.. Karte.Received.Where(e => e.UserId == userId)];

    /// <summary>Moves the clock in small steps (500 ms by default, each followed by a short real pause) until
    /// <paramref name="done"/> holds, bounded by <see cref="KarteBound"/> of real time; fails with the KARTE writes
    /// and what the stand-in received.</summary>
    public async Task AdvanceInStepsUntilAsync(Func<Task<bool>> done, string what, TimeSpan? step = null)
    {
        var watch = Stopwatch.StartNew();
        while (!await done())
        {
            if (watch.Elapsed > KarteBound)
                Assert.Fail($"Timed out waiting for: {what}\n{(await KarteWritesAsync(limit: 20)).ToJsonString()}\n{Karte.ToJson(limit: 20).ToJsonString()}");
            await AdvanceAsync(step ?? TimeSpan.FromMilliseconds(500));
            await Task.Delay(15);
        }
    }

    public Task AdvanceInStepsUntilAsync(Func<bool> done, string what, TimeSpan? step = null) =>
        AdvanceInStepsUntilAsync(() => Task.FromResult(done()), what, step);

    /// <summary>Lets the service run for <paramref name="duration"/> of test time, in the same steps (to show that
    /// nothing more happens).</summary>
    public async Task RunForAsync(TimeSpan duration, TimeSpan? step = null)
    {
        for (var moved = TimeSpan.Zero; moved < duration; moved += step ?? TimeSpan.FromMilliseconds(500))
        {
            await AdvanceAsync(step ?? TimeSpan.FromMilliseconds(500));
            await Task.Delay(15);
        }
    }

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
