using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KarteMarketo.IntegrationTests.Infrastructure;

namespace KarteMarketo.IntegrationTests.Cluster.Reliability;

/// <summary>
/// One Marketo instance for the reliability tests: the sandbox as its own process (as docker-compose runs it) on a
/// port of its own, so each instance has its own quota, plus its control API (<c>/_sandbox/…</c>). The process can be
/// stopped and started again on the same port (connection refused in between); what the old process counted is kept
/// in <see cref="Archived"/>, because a new process starts empty.
/// </summary>
public sealed class MarketoInstance : IAsyncDisposable
{
    private readonly IReadOnlyDictionary<string, string?> settings;
    private readonly HttpClient control;
    private SandboxHost? process;

    private MarketoInstance(int port, IReadOnlyDictionary<string, string?> settings)
    {
        Port = port;
        this.settings = settings;
        BaseAddress = new Uri($"http://127.0.0.1:{port}/");
        control = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public int Port { get; }
    public Uri BaseAddress { get; }
    public bool IsRunning => process is { HasExited: false };

    /// <summary>Counters of earlier processes of this instance (see <see cref="StopAsync"/>).</summary>
    public List<JsonObject> Archived { get; } = [];

    public static async Task<MarketoInstance> StartAsync(IReadOnlyDictionary<string, string?>? settings = null)
    {
        var instance = new MarketoInstance(FreePort.Next(), settings ?? new Dictionary<string, string?>());
        await instance.StartProcessAsync();
        return instance;
    }

    /// <summary>Starts the process (again) on the instance's port; <paramref name="overrides"/> replace settings.</summary>
    public async Task StartProcessAsync(IReadOnlyDictionary<string, string?>? overrides = null)
    {
        var merged = new Dictionary<string, string?>(settings);
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>()) merged[key] = value;
        process = await SandboxHost.StartAsync(Port, merged);
    }

    /// <summary>Lets another API client in (<c>POST /_sandbox/clients</c>).</summary>
    public Task AddClientAsync(string clientId, string clientSecret) =>
        PostAsync("_sandbox/clients", new JsonObject { ["clientId"] = clientId, ["clientSecret"] = clientSecret });

    /// <summary>Archives the counters, then SIGKILLs the process: from now on connections to the port are refused.</summary>
    public async Task StopAsync()
    {
        Archived.Add(await CountersAsync());
        await process!.KillAsync();
    }

    public string Output => process?.Output ?? "";

    public async Task<JsonObject> CountersAsync() =>
        JsonNode.Parse(await control.GetStringAsync("_sandbox/counters"))!.AsObject();

    /// <summary>Every counters document of this instance: archived ones and, when running, the live one.</summary>
    public async Task<List<JsonObject>> AllCountersAsync()
    {
        var all = new List<JsonObject>(Archived);
        if (IsRunning) all.Add(await CountersAsync());
        return all;
    }

    /// <summary>Calls counted today by the running process (all clients).</summary>
    public async Task<int> UsedTodayAsync() =>
        (int)JsonNode.Parse(await control.GetStringAsync("_sandbox/quota"))!["usedToday"]!;

    public async Task<long> SeedLeadAsync(string email, JsonObject fields)
    {
        var body = await PostAsync("_sandbox/leads", new JsonObject { ["email"] = email, ["fields"] = fields });
        return (long)body!["id"]!;
    }

    public async Task<int> AddActivityTypeAsync(string apiName, string primaryAttribute) =>
        (int)(await PostAsync("_sandbox/activity-types", new JsonObject
        {
            ["apiName"] = apiName,
            ["name"] = apiName,
            ["primaryAttribute"] = primaryAttribute,
            ["attributes"] = new JsonArray(),
        }))!["id"]!;

    public Task AddFieldAsync(string name, string dataType) =>
        PostAsync("_sandbox/fields", new JsonObject { ["name"] = name, ["dataType"] = dataType });

    public Task FailFieldAsync(string name) => PostAsync($"_sandbox/fields/{name}/fail", new JsonObject());

    public Task InjectFaultAsync(JsonObject fault) => PostAsync("_sandbox/faults", fault);

    public async Task ClearFaultsAsync()
    {
        using var response = await control.DeleteAsync("_sandbox/faults");
        response.EnsureSuccessStatusCode();
    }

    public async Task SetTokenExpiryAsync(double? everySeconds)
    {
        using var response = await control.PutAsJsonAsync("_sandbox/tokens/expiry", new JsonObject { ["everySeconds"] = everySeconds });
        response.EnsureSuccessStatusCode();
    }

    private async Task<JsonNode?> PostAsync(string path, JsonObject body)
    {
        using var response = await control.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"sandbox {path}: {(int)response.StatusCode} {text}");
        return response.StatusCode == HttpStatusCode.NoContent || text.Length == 0 ? null : JsonNode.Parse(text);
    }

    public async ValueTask DisposeAsync()
    {
        control.Dispose();
        if (process is not null) await process.DisposeAsync();
    }

    /// <summary><c>dotnet KarteMarketo.MarketoSandbox.dll</c> on a given port.</summary>
    private sealed class SandboxHost : ChildProcess
    {
        private readonly Uri baseAddress;

        private SandboxHost(int port, IReadOnlyDictionary<string, string?> settings)
            : base(SandboxProcess.SandboxDllPath, [], Environment(port, settings))
        {
            baseAddress = new Uri($"http://127.0.0.1:{port}/");
        }

        public static async Task<SandboxHost> StartAsync(int port, IReadOnlyDictionary<string, string?> settings)
        {
            var host = new SandboxHost(port, settings);
            try
            {
                await host.WaitForHttpAsync(new Uri(host.baseAddress, "_sandbox/quota"), status => status == HttpStatusCode.OK,
                    TimeSpan.FromSeconds(90));
            }
            catch
            {
                await host.DisposeAsync();
                throw;
            }
            return host;
        }

        private static Dictionary<string, string?> Environment(int port, IReadOnlyDictionary<string, string?> settings)
        {
            var environment = new Dictionary<string, string?>
            {
                ["ASPNETCORE_ENVIRONMENT"] = "Production",
                ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
            };
            foreach (var (key, value) in settings) environment[key] = value;
            return environment;
        }
    }
}
