namespace KarteMarketo.IntegrationTests.Infrastructure;

/// <summary>
/// The Marketo sandbox as its own process (<c>dotnet KarteMarketo.MarketoSandbox.dll</c>), as docker-compose runs it.
/// Ready once it answers HTTP at all.
/// </summary>
public sealed class SandboxProcess : ChildProcess
{
    private SandboxProcess(int httpPort, IReadOnlyDictionary<string, string?> settings)
        : base(SandboxDllPath, [], Environment(httpPort, settings))
    {
        HttpPort = httpPort;
        BaseAddress = new Uri($"http://127.0.0.1:{httpPort}");
    }

    public static string SandboxDllPath => Path.Combine(AppContext.BaseDirectory, "KarteMarketo.MarketoSandbox.dll");

    public int HttpPort { get; }
    public Uri BaseAddress { get; }

    /// <summary>Starts the sandbox; <paramref name="settings"/> are extra environment variables (e.g. <c>Sandbox__DailyQuota</c>).</summary>
    public static async Task<SandboxProcess> StartAsync(IReadOnlyDictionary<string, string?>? settings = null, TimeSpan? readyTimeout = null)
    {
        var sandbox = new SandboxProcess(FreePort.Next(), settings ?? new Dictionary<string, string?>());
        try
        {
            // Any HTTP answer (even 404) means Kestrel is serving.
            await sandbox.WaitForHttpAsync(sandbox.BaseAddress, _ => true, readyTimeout ?? TimeSpan.FromSeconds(60));
        }
        catch
        {
            await sandbox.DisposeAsync();
            throw;
        }
        return sandbox;
    }

    private static Dictionary<string, string?> Environment(int httpPort, IReadOnlyDictionary<string, string?> settings)
    {
        var environment = new Dictionary<string, string?>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{httpPort}",
        };
        foreach (var (key, value) in settings) environment[key] = value;
        return environment;
    }
}
