using System.Net.Http.Headers;

namespace KarteMarketo.IntegrationTests.Infrastructure;

/// <summary>What a host process is started with (API.md, "Configuration").</summary>
public sealed record HostOptions
{
    /// <summary>PostgreSQL mode when set; the embedded default when null.</summary>
    public string? PostgresConnectionString { get; init; }
    public string AdminKey { get; init; } = HostProcess.DefaultAdminKey;
    public string Environment { get; init; } = "Production";
    public string ClusterId { get; init; } = "kartemarketo";
    public string ServiceId { get; init; } = "kartemarketo";
    /// <summary>0 = a free port chosen at start.</summary>
    public int HttpPort { get; init; }
    public int SiloPort { get; init; }
    public int GatewayPort { get; init; }
    /// <summary>Anything else, e.g. <c>Orleans__Membership__ProbeTimeout</c>. A null value removes the variable.</summary>
    public IReadOnlyDictionary<string, string?> Settings { get; init; } = new Dictionary<string, string?>();
}

/// <summary>
/// One KarteMarketo host (front door + co-hosted silo) as a real process: <c>dotnet KarteMarketo.Server.dll</c> from
/// the build output next to the test assembly, configured through environment variables only, exactly as
/// docker-compose starts it. <see cref="StartAsync"/> returns once <c>/health/ready</c> answers 200.
/// </summary>
public sealed class HostProcess : ChildProcess
{
    public const string DefaultAdminKey = "integration-admin-key-0123456789abcdef";

    private HostProcess(HostOptions options, int httpPort, int siloPort, int gatewayPort, IReadOnlyList<string> arguments)
        : base(ServerDllPath, arguments, Environment(options, httpPort, siloPort, gatewayPort))
    {
        Options = options;
        HttpPort = httpPort;
        SiloPort = siloPort;
        GatewayPort = gatewayPort;
        BaseAddress = new Uri($"http://127.0.0.1:{httpPort}");
    }

    /// <summary>The server assembly copied into this test project's output by the project reference.</summary>
    public static string ServerDllPath => Path.Combine(AppContext.BaseDirectory, "KarteMarketo.Server.dll");

    public HostOptions Options { get; }
    public int HttpPort { get; }
    public int SiloPort { get; }
    public int GatewayPort { get; }
    public Uri BaseAddress { get; }

    /// <summary>Starts a host and waits until it is ready (silo Active, database reachable).</summary>
    public static async Task<HostProcess> StartAsync(HostOptions options, TimeSpan? readyTimeout = null)
    {
        var host = new HostProcess(options, Pick(options.HttpPort), Pick(options.SiloPort), Pick(options.GatewayPort), []);
        try
        {
            await host.WaitForHttpAsync(new Uri(host.BaseAddress, "/health/ready"),
                status => status == System.Net.HttpStatusCode.OK, readyTimeout ?? TimeSpan.FromSeconds(90));
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
        return host;
    }

    /// <summary>Runs the server with a verb (e.g. <c>migrate</c>) and waits for it to exit.</summary>
    public static async Task<(int ExitCode, string Output)> RunVerbAsync(HostOptions options, params string[] arguments)
    {
        await using var run = new HostProcess(options, Pick(0), Pick(0), Pick(0), arguments);
        var code = await run.WaitForExitAsync(TimeSpan.FromSeconds(90));
        return (code, run.Output);
    }

    /// <summary>An HTTP client for this host; with <paramref name="bearer"/> as <c>Authorization: Bearer</c>.</summary>
    public HttpClient CreateClient(string? bearer = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (bearer is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return client;
    }

    /// <summary>A client carrying the admin key.</summary>
    public HttpClient CreateAdminClient() => CreateClient(Options.AdminKey);

    private static int Pick(int port) => port == 0 ? FreePort.Next() : port;

    private static Dictionary<string, string?> Environment(HostOptions options, int httpPort, int siloPort, int gatewayPort)
    {
        var environment = new Dictionary<string, string?>
        {
            ["ASPNETCORE_ENVIRONMENT"] = options.Environment,
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{httpPort}",
            ["ConnectionStrings__Postgres"] = options.PostgresConnectionString,
            ["Auth__AdminKey"] = options.AdminKey,
            ["Orleans__ClusterId"] = options.ClusterId,
            ["Orleans__ServiceId"] = options.ServiceId,
            ["Orleans__SiloPort"] = siloPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Orleans__GatewayPort"] = gatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // Every host of a test runs on this machine: advertise the loopback, not whatever interface is first.
            ["Orleans__AdvertisedIP"] = "127.0.0.1",
            // The tests' Marketo sandboxes listen on the loopback, which outbound calls refuse by default outside Development.
            ["Outbound__AllowPrivateAddresses"] = "true",
        };
        foreach (var (key, value) in options.Settings) environment[key] = value;
        return environment;
    }
}
