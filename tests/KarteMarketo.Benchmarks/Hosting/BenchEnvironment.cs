using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace KarteMarketo.Benchmarks.Hosting;

/// <summary>Starts the server and sandboxes for one scenario and talks to them over HTTP (loopback only).</summary>
internal sealed class BenchEnvironment(BenchOptions options, string runId, string logDirectory) : IAsyncDisposable
{
    private readonly List<ProcessHost> _hosts = [];
    private readonly string _adminKey = "bench-admin-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();

    public BenchOptions Options => options;
    public string RunId => runId;

    /// <summary>Starts a Marketo sandbox process (its own counters, quota and rate limits: one Marketo instance).</summary>
    public async Task<SandboxHandle> StartSandboxAsync(string name, CancellationToken cancellationToken)
    {
        var host = await ProcessHost.StartAsync(name, options.SandboxDll, new Dictionary<string, string?>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["Logging__LogLevel__Default"] = "Warning",
        }, "/_sandbox/quota", logDirectory, TimeSpan.FromSeconds(60), cancellationToken);
        _hosts.Add(host);
        return new SandboxHandle(host, CreateClient(host.BaseAddress, null, 64));
    }

    /// <summary>Starts the server (front door + silo) with the given extra configuration.</summary>
    public async Task<ServerHandle> StartServerAsync(string name, IReadOnlyDictionary<string, string?>? extra, CancellationToken cancellationToken)
    {
        var environment = new Dictionary<string, string?>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["DOTNET_ENVIRONMENT"] = "Development",
            ["Auth__AdminKey"] = _adminKey,
            ["Marketo__AllowInsecureEndpoints"] = "true",
            ["Demo__Enabled"] = "false",
            ["Orleans__SiloPort"] = ProcessHost.FreeTcpPort().ToString(CultureInfo.InvariantCulture),
            ["Orleans__GatewayPort"] = ProcessHost.FreeTcpPort().ToString(CultureInfo.InvariantCulture),
            // A cluster of its own per run: stale silos of an earlier run in the same database are not waited for.
            ["Orleans__ClusterId"] = "bench-" + runId,
            ["Orleans__ServiceId"] = "bench-" + runId,
            ["Orleans__AdvertisedIP"] = "127.0.0.1",
            ["Outbound__AllowPrivateAddresses"] = "true",
            // Per-request logging on the console would measure the console.
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information",
        };
        if (options.Postgres is { } postgres) environment["ConnectionStrings__Postgres"] = postgres;
        foreach (var (key, value) in options.ServerEnvironment) environment[key] = value;
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>()) environment[key] = value;

        var host = await ProcessHost.StartAsync(name, options.ServerDll, environment, "/health/ready", logDirectory,
            TimeSpan.FromSeconds(options.Postgres is null ? 90 : 180), cancellationToken);
        _hosts.Add(host);
        return new ServerHandle(host, CreateClient(host.BaseAddress, _adminKey, 16), options.IngestConcurrency);
    }

    /// <summary>Starts the floor (tests/KarteMarketo.Benchmarks.Floor): Kestrel that only parses the identify bodies.</summary>
    public async Task<ProcessHost> StartFloorAsync(string name, CancellationToken cancellationToken)
    {
        var host = await ProcessHost.StartAsync(name, options.FloorDll, new Dictionary<string, string?>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
        }, "/ready", logDirectory, TimeSpan.FromSeconds(60), cancellationToken);
        _hosts.Add(host);
        return host;
    }

    /// <summary>PostgreSQL mode: starts the storage-ceiling silo (tests/KarteMarketo.Benchmarks.StorageCeiling) on the
    /// same database. The server must have migrated it first.</summary>
    public async Task<StorageCeilingHandle> StartStorageCeilingAsync(string name, CancellationToken cancellationToken)
    {
        var postgres = options.Postgres ?? throw new InvalidOperationException("the storage ceiling needs --postgres");
        var host = await ProcessHost.StartAsync(name, options.StorageCeilingDll, new Dictionary<string, string?>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["ConnectionStrings__Postgres"] = postgres,
            ["Orleans__SiloPort"] = ProcessHost.FreeTcpPort().ToString(CultureInfo.InvariantCulture),
            ["Orleans__GatewayPort"] = ProcessHost.FreeTcpPort().ToString(CultureInfo.InvariantCulture),
            ["Orleans__ClusterId"] = "ceiling-" + runId,
            ["Orleans__ServiceId"] = "ceiling-" + runId,
        }, "/ready", logDirectory, TimeSpan.FromSeconds(90), cancellationToken);
        _hosts.Add(host);
        return new StorageCeilingHandle(host, CreateClient(host.BaseAddress, null, 4), runId);
    }

    public static HttpClient CreateClient(Uri baseAddress, string? bearer, int connections)
    {
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = connections,
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        };
        var client = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (bearer is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return client;
    }

    /// <summary>Stops a host now (and forgets it).</summary>
    public async Task StopAsync(ProcessHost host)
    {
        _hosts.Remove(host);
        await host.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var host in Enumerable.Reverse(_hosts).ToList()) await host.DisposeAsync();
        _hosts.Clear();
    }
}

/// <summary>A sandbox process and its control endpoints (<c>/_sandbox/…</c>).</summary>
internal sealed class SandboxHandle(ProcessHost host, HttpClient client)
{
    public ProcessHost Host => host;
    public HttpClient Client => client;
    public string RestEndpoint => new Uri(host.BaseAddress, "rest").ToString();
    public string IdentityEndpoint => new Uri(host.BaseAddress, "identity").ToString();
    public const string ClientId = "sandbox-client";
    public const string ClientSecret = "sandbox-secret";

    public async Task<SandboxCounts> CountersAsync(CancellationToken cancellationToken)
    {
        var json = JsonNode.Parse(await client.GetStringAsync("/_sandbox/counters", cancellationToken))!.AsObject();
        return SandboxCounts.From(json);
    }

    public async Task SetDailyQuotaAsync(int dailyQuota, CancellationToken cancellationToken)
    {
        using var response = await client.PutAsync("/_sandbox/quota", Json(new JsonObject { ["dailyQuota"] = dailyQuota, ["usedToday"] = 0 }), cancellationToken);
        await Http.EnsureAsync(response, "PUT /_sandbox/quota");
    }

    /// <summary>Seeds one lead per email (bounded concurrency).</summary>
    public async Task SeedLeadsAsync(IReadOnlyList<string> emails, int concurrency, CancellationToken cancellationToken)
    {
        await Parallel.ForEachAsync(emails, new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken },
            async (email, token) =>
            {
                using var response = await client.PostAsync("/_sandbox/leads", Json(new JsonObject
                {
                    ["email"] = email,
                    ["fields"] = new JsonObject { ["firstName"] = "Bench", ["lastName"] = email[..email.IndexOf('@')] },
                }), token);
                await Http.EnsureAsync(response, "POST /_sandbox/leads");
            });
    }

    private static StringContent Json(JsonNode node) => new(node.ToJsonString(), Encoding.UTF8, "application/json");
}

/// <summary>The storage-ceiling process: <c>POST /run</c> drives its WriteStateAsync loop and answers the figures.</summary>
internal sealed class StorageCeilingHandle(ProcessHost host, HttpClient client, string runId)
{
    public ProcessHost Host => host;

    /// <summary>One loop: "new" (every write a grain never written: activation read + insert) or "update".</summary>
    public async Task<JsonObject> RunAsync(string mode, double seconds, int concurrency, CancellationToken cancellationToken)
    {
        var query = string.Create(CultureInfo.InvariantCulture,
            $"/run?mode={mode}&seconds={seconds}&concurrency={concurrency}&run={runId}-{mode}-{concurrency}-{Guid.NewGuid():N}");
        using var response = await client.PostAsync(query, null, cancellationToken);
        await Http.EnsureAsync(response, "POST /run (storage ceiling)");
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))!.AsObject();
    }
}

/// <summary>The figures we read from <c>GET /_sandbox/counters</c>.</summary>
internal sealed record SandboxCounts(int Calls, int CountedCalls, int LookupCalls, int LookupValues, int MaxCallsInWindow, int MaxInFlight,
    int Breaches, JsonObject ByEndpoint, JsonArray BreachList, JsonArray? LookupSizes = null)
{
    public static SandboxCounts From(JsonObject json) => new(
        (int)json["calls"]!, (int)json["countedCalls"]!, (int)json["lookupCalls"]!, (int)json["lookupValues"]!,
        (int)json["maxCallsInWindow"]!, (int)json["maxInFlight"]!, json["breaches"]!.AsArray().Count,
        json["callsByEndpointAndCode"]!.AsObject().DeepClone().AsObject(), json["breaches"]!.AsArray().DeepClone().AsArray(),
        json["lookupSizes"]?.AsArray().DeepClone().AsArray());

    public JsonObject ToJson() => new()
    {
        ["calls"] = Calls, ["countedCalls"] = CountedCalls, ["lookupCalls"] = LookupCalls, ["lookupValues"] = LookupValues,
        ["maxCallsInWindow"] = MaxCallsInWindow, ["maxInFlight"] = MaxInFlight, ["breaches"] = Breaches,
        ["breachList"] = BreachList.DeepClone(), ["callsByEndpointAndCode"] = ByEndpoint.DeepClone(),
        ["lookupSizes"] = LookupSizes?.DeepClone(),
    };
}

/// <summary>The server process and the admin API (API.md).</summary>
internal sealed class ServerHandle(ProcessHost host, HttpClient admin, int loadConnections)
{
    public ProcessHost Host => host;
    public HttpClient Admin => admin;

    /// <summary>Creates (PUT) a project pointing at <paramref name="sandbox"/>; returns its API key.</summary>
    public async Task<string> CreateProjectAsync(string projectId, SandboxHandle sandbox, Action<JsonObject> customize, CancellationToken cancellationToken) =>
        (string?)(await PutProjectAsync(projectId, sandbox, customize, cancellationToken))["apiKey"]
        ?? throw new InvalidOperationException("PUT settings returned no apiKey");

    /// <summary>Creates or replaces (PUT) a project pointing at <paramref name="sandbox"/>; returns the settings response
    /// (API key and webhook secret in full, connection checks).</summary>
    public async Task<JsonObject> PutProjectAsync(string projectId, SandboxHandle sandbox, Action<JsonObject> customize, CancellationToken cancellationToken)
    {
        var settings = new JsonObject
        {
            ["marketo"] = new JsonObject
            {
                ["clientId"] = SandboxHandle.ClientId,
                ["clientSecret"] = SandboxHandle.ClientSecret,
                ["endpoint"] = sandbox.RestEndpoint,
                ["identity"] = sandbox.IdentityEndpoint,
            },
        };
        customize(settings);
        using var response = await admin.PutAsync($"/v1/projects/{projectId}/settings",
            new StringContent(settings.ToJsonString(), Encoding.UTF8, "application/json"), cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
            throw new InvalidOperationException($"PUT /v1/projects/{projectId}/settings: {(int)response.StatusCode} {Http.Short(body)}");
        return JsonNode.Parse(body)!.AsObject();
    }

    /// <summary>A client for load: the project's key, one connection per concurrent request.</summary>
    public HttpClient CreateProjectClient(string apiKey, int? connections = null) =>
        BenchEnvironment.CreateClient(host.BaseAddress, apiKey, connections ?? loadConnections);

    /// <summary>GET user info; null when 404.</summary>
    public async Task<JsonObject?> GetUserAsync(string projectId, string userId, CancellationToken cancellationToken)
    {
        using var response = await admin.GetAsync($"/v1/projects/{projectId}/users/{Uri.EscapeDataString(userId)}", cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        await Http.EnsureAsync(response, "GET user");
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))!.AsObject();
    }

    /// <summary>The size of a segment (API.md "Segments"); null where the endpoint does not answer 200.</summary>
    public async Task<int?> SegmentCountAsync(string projectId, string segment, CancellationToken cancellationToken)
    {
        using var response = await admin.GetAsync($"/v1/projects/{projectId}/segments/{segment}?limit=1", cancellationToken);
        if (!response.IsSuccessStatusCode) return null;
        return (int?)JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))?["count"];
    }

    public async Task<JsonObject?> QuotaAsync(string projectId, CancellationToken cancellationToken)
    {
        using var response = await admin.GetAsync($"/v1/projects/{projectId}/quota", cancellationToken);
        if (!response.IsSuccessStatusCode) return null;
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))?.AsObject();
    }

    public async Task<PrometheusText> MetricsAsync(CancellationToken cancellationToken) =>
        PrometheusText.Parse(await admin.GetStringAsync("/metrics", cancellationToken));
}

internal static class Http
{
    public static async Task EnsureAsync(HttpResponseMessage response, string what)
    {
        if (response.IsSuccessStatusCode) return;
        var body = await response.Content.ReadAsStringAsync();
        throw new InvalidOperationException($"{what}: {(int)response.StatusCode} {Short(body)}");
    }

    public static string Short(string text) => text.Length <= 400 ? text : text[..400] + "…";
}
