using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;

namespace KarteMarketo.FunctionalTests.Infrastructure;

/// <summary>
/// The whole server (front door + co-hosted silo) in the embedded default, on a clock the test moves.
/// The front door is reached through the in-memory test server; the service reaches the Marketo sandbox over real
/// HTTP (start one with <c>SandboxServer.StartAsync</c> and point a project at it with <see cref="CreateProjectAsync"/>).
/// </summary>
public class KarteMarketoAppFactory : WebApplicationFactory<Program>
{
    public const string AdminKey = "test-admin-key-0123456789abcdefghij";

    /// <summary>Starts on a fixed instant (a Saturday noon UTC, 06:00 in Marketo's Central time).</summary>
    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));

    /// <summary>Extra configuration for a test class (e.g. <c>ConnectionStrings:Postgres</c> in the integration suite).</summary>
    public Dictionary<string, string?> Settings { get; } = new();

    private readonly int _siloPort = FreeTcpPort();
    private readonly int _gatewayPort = FreeTcpPort();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Development");
        builder.UseSetting("Auth:AdminKey", AdminKey);
        builder.UseSetting("Marketo:AllowInsecureEndpoints", "true");
        builder.UseSetting("Orleans:SiloPort", _siloPort.ToString());
        builder.UseSetting("Orleans:GatewayPort", _gatewayPort.ToString());
        builder.UseSetting("Demo:Enabled", "false");
        // Every request of the in-memory test server comes from one "address" on a clock that stands still: the
        // failed-authentication limit is a test of its own (HardenedHostTests), not a budget shared by every test here.
        builder.UseSetting("Auth:FailedPerMinute", "1000000");
        foreach (var (key, value) in Settings) builder.UseSetting(key, value);

        builder.ConfigureServices(services =>
        {
            // Grains, grain timers and our own code run on the test's clock; Orleans' own maintenance loops stay on
            // real time so that moving the clock does not run them inline. Reminders follow the test's clock too.
            services.RemoveAll<TimeProvider>();
            services.AddSingleton<TimeProvider>(Time);
            services.UseTimeProviderForBackgroundAreas(TimeProvider.System);
            services.AddKeyedSingleton<TimeProvider>(Orleans.Reminders.ReminderTimeProviderNames.Reminders, Time);
        });
    }

    /// <summary>
    /// Shutting down on a stopped clock would wait forever for whatever waits on it (a retry's back-off, a batch
    /// being flushed on deactivation), so the clock keeps moving while the host stops, as it would in production.
    /// </summary>
    public override async ValueTask DisposeAsync()
    {
        using var stopped = new CancellationTokenSource();
        var ticking = Task.Run(async () =>
        {
            while (!stopped.IsCancellationRequested)
            {
                Time.Advance(TimeSpan.FromSeconds(1));
                await Task.Delay(10, CancellationToken.None);
            }
        });
        try
        {
            await base.DisposeAsync();
        }
        finally
        {
            stopped.Cancel();
            await ticking;
        }
        GC.SuppressFinalize(this);
    }

    /// <summary>A client carrying the admin key.</summary>
    public HttpClient CreateAdminClient()
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        return client;
    }

    /// <summary>A client carrying a project's API key.</summary>
    public HttpClient CreateProjectClient(string apiKey)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return client;
    }

    /// <summary>
    /// Creates a project through <c>PUT /v1/projects/{id}/settings</c> pointing at the given Marketo endpoints, and
    /// returns the keys issued on creation. <paramref name="customize"/> may change the settings JSON first.
    /// </summary>
    public async Task<CreatedProject> CreateProjectAsync(string projectId, Uri restEndpoint, Uri identityEndpoint,
        string clientId, string clientSecret, Action<JsonObject>? customize = null)
    {
        var settings = new JsonObject
        {
            ["marketo"] = new JsonObject
            {
                ["clientId"] = clientId,
                ["clientSecret"] = clientSecret,
                ["endpoint"] = restEndpoint.ToString().TrimEnd('/'),
                ["identity"] = identityEndpoint.ToString().TrimEnd('/'),
            },
        };
        customize?.Invoke(settings);
        using var admin = CreateAdminClient();
        using var response = await admin.PutAsJsonAsync($"/v1/projects/{projectId}/settings", settings);
        var body = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK)
            throw new InvalidOperationException($"creating project {projectId} failed: {(int)response.StatusCode} {body}");
        var json = JsonNode.Parse(body)!.AsObject();
        return new CreatedProject(projectId, (string)json["apiKey"]!, (string)json["webhookSecret"]!, json);
    }

    // Below Linux's ephemeral range (32768 and up): a port the OS hands out for port 0 can be taken again by an outgoing
    // connection (HTTP, PostgreSQL) before the silo binds it. The integration tests use 10000-19999.
    private const int PortRangeStart = 20_000, PortRangeSize = 12_000;
    private static int _nextPort = PortRangeStart + Environment.ProcessId * 97 % PortRangeSize;

    /// <summary>A loopback port nothing listens on now, from this assembly's own range, never the same twice per run.</summary>
    private static int FreeTcpPort()
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
        throw new InvalidOperationException("No free port in the functional tests' range.");
    }
}

/// <summary>A project created by a test, with its keys in clear (as the creating response returned them).</summary>
public sealed record CreatedProject(string ProjectId, string ApiKey, string WebhookSecret, JsonObject Response);
