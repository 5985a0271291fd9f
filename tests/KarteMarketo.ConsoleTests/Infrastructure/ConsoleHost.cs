using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace KarteMarketo.ConsoleTests.Infrastructure;

/// <summary>
/// The whole server in the embedded default (front door, co-hosted silo, the Marketo sandbox at
/// <c>/sandbox/marketo</c>) on a real Kestrel socket on loopback, since the browser needs one. It runs on the system
/// clock: the browser waits in real time, for conditions, never for fixed delays.
/// </summary>
public sealed class ConsoleHost : WebApplicationFactory<Program>
{
    public const string AdminKey = "console-test-admin-key-0123456789abcdef";

    public int HttpPort { get; } = FreePort();
    private readonly int _siloPort = FreePort();
    private readonly int _gatewayPort = FreePort();

    public Uri BaseAddress => new($"http://127.0.0.1:{HttpPort}/");
    public Uri SandboxRest => new(BaseAddress, "sandbox/marketo/rest");
    public Uri SandboxIdentity => new(BaseAddress, "sandbox/marketo/identity");
    public Uri SandboxControl => new(BaseAddress, "sandbox/marketo/_sandbox/");

    public ConsoleHost() => UseKestrel(options => options.Listen(IPAddress.Loopback, HttpPort));

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Development");
        builder.UseSetting("Auth:AdminKey", AdminKey);
        builder.UseSetting("Marketo:AllowInsecureEndpoints", "true");
        builder.UseSetting("Orleans:SiloPort", _siloPort.ToString());
        builder.UseSetting("Orleans:GatewayPort", _gatewayPort.ToString());
        builder.UseSetting("Demo:Enabled", "false");
        // A failed activity stays failed after one attempt, so the test can retry it by hand.
        builder.UseSetting("Outbox:MaxAttempts", "1");
        builder.UseSetting("Outbox:BatchDelay", "00:00:00.100");
    }

    /// <summary>An HTTP client on the real socket, carrying <paramref name="bearer"/> where given.</summary>
    public HttpClient Http(string? bearer = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (bearer is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return client;
    }

    /// <summary>Creates a project on the embedded sandbox through the API; returns its API key.</summary>
    public async Task<string> CreateProjectAsync(string projectId, Action<JsonObject>? customize = null)
    {
        var settings = new JsonObject
        {
            ["marketo"] = new JsonObject
            {
                ["clientId"] = "sandbox-client",
                ["clientSecret"] = "sandbox-secret",
                ["endpoint"] = SandboxRest.ToString(),
                ["identity"] = SandboxIdentity.ToString(),
            },
            ["realtimeSync"] = new JsonObject { ["batchDelayMilliseconds"] = 0 },
        };
        customize?.Invoke(settings);
        using var admin = Http(AdminKey);
        using var response = await admin.PutAsJsonAsync($"v1/projects/{projectId}/settings", settings);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"creating {projectId}: {(int)response.StatusCode} {body}");
        return (string)JsonNode.Parse(body)!["apiKey"]!;
    }

    public async Task<JsonObject> GetJsonAsync(string path, string? bearer = AdminKey)
    {
        using var client = Http(bearer);
        using var response = await client.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!.AsObject();
    }

    public async Task<JsonNode?> PostJsonAsync(string path, JsonNode body, string? bearer = AdminKey)
    {
        using var client = Http(bearer);
        using var response = await client.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"POST {path}: {(int)response.StatusCode} {text}");
        return text.Length == 0 ? null : JsonNode.Parse(text);
    }

    /// <summary>Waits for a condition of the system under test (real time: the browser's host runs on it).</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold in time");
            await Task.Delay(100);
        }
    }

    /// <summary>Seeds a lead in the embedded sandbox.</summary>
    public async Task<long> SeedLeadAsync(string email, string firstName)
    {
        var created = await PostJsonAsync(new Uri(SandboxControl, "leads").ToString(),
            new JsonObject { ["email"] = email, ["fields"] = new JsonObject { ["firstName"] = firstName } }, bearer: null);
        return (long)created!["id"]!;
    }

    // Below Linux's ephemeral range, apart from the functional (20000-31999) and integration (10000-19999) tests'.
    private const int PortRangeStart = 7_000, PortRangeSize = 2_900;
    private static int _nextPort = PortRangeStart + Environment.ProcessId * 31 % PortRangeSize;

    private static int FreePort()
    {
        for (var attempt = 0; attempt < PortRangeSize; attempt++)
        {
            var port = PortRangeStart + Interlocked.Increment(ref _nextPort) % PortRangeSize;
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // In use: try the next one.
            }
        }
        throw new InvalidOperationException("No free port in the console tests' range.");
    }
}
