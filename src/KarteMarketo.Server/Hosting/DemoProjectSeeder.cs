using System.Net;
using System.Text;
using KarteMarketo.Contracts;
using KarteMarketo.Contracts.Projects;
using KarteMarketo.Grains.Storage;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Orleans;

namespace KarteMarketo.Server.Hosting;

/// <summary>
/// The embedded default's start-up banner (registered in embedded mode only). It warns that nothing persists and,
/// where <c>Demo:Enabled</c> (default: Development only), creates project <c>demo</c> pointing at the sandbox mounted in
/// this host, then prints the demo project's API key with curl examples, and the admin key only when it was generated
/// for this run (a configured one is never printed). This banner is the one place where keys are printed (the
/// embedded default's contract); nothing else logs them.
/// </summary>
internal sealed class DemoProjectSeeder(
    IHostApplicationLifetime lifetime,
    IServer server,
    IGrainFactory grains,
    AdminKeyProvider adminKey,
    IConfiguration configuration,
    IHostEnvironment environment,
    AppStorageOptions storage,
    ILogger<DemoProjectSeeder> logger) : IHostedService
{
    public const string DemoProjectId = "demo";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        logger.LogWarning(
            "EMBEDDED MODE: no ConnectionStrings:Postgres is set. Grain state, reminders and app data live in memory " +
            "and are LOST when this process stops; this host cannot join other hosts. Set ConnectionStrings__Postgres " +
            "for anything beyond a demo.");

        if (DemoDefaults.DemoEnabled(configuration, environment, storage))
        {
            // The listening address is known only once Kestrel has started, after every hosted service.
            lifetime.ApplicationStarted.Register(() => _ = Task.Run(SeedAsync, CancellationToken.None));
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task SeedAsync()
    {
        try
        {
            var baseUrl = LocalBaseUrl();
            // The embedded sandbox's credentials (its "Sandbox" configuration section; these are its defaults).
            var clientId = configuration["Sandbox:ClientId"] ?? "sandbox-client";
            var clientSecret = configuration["Sandbox:ClientSecret"] ?? "sandbox-secret";
            var settings = new ProjectSettings(
                new MarketoSettings(
                    clientId,
                    clientSecret,
                    $"{baseUrl}/sandbox/marketo/rest",
                    $"{baseUrl}/sandbox/marketo/identity",
                    MunchkinPrivateKey: null,
                    CustomFields: [],
                    ExcludedFields: [],
                    TimeZone: KarteMarketo.Marketo.MarketoLimits.DayTimeZoneId),
                new PeriodicSyncSettings(true, 30),
                new RealtimeSyncSettings(true, ["email", "cookie"], 86_400, 1_000),
                QuotaSettings.Default,
                FieldMappings: [],
                ActivityMappings: [])
            {
                // The KARTE stand-in mounted beside the Marketo sandbox: synced user info and Marketo events go there.
                Karte = new KarteSettings(true, $"{baseUrl}{Apis.EmbeddedSandboxApi.KartePrefix}",
                    configuration["Sandbox:Karte:AppToken"] ?? new MarketoSandbox.Karte.KarteStandInOptions().AppToken,
                    KarteSettings.DefaultRequestsPerSecond, WriteOnlyOnChange: true),
            };

            var project = grains.GetGrain<IProjectGrain>(GrainKeys.Project(DemoProjectId));
            var saved = await project.SaveSettingsAsync(settings);
            var keys = saved.IssuedKeys ?? await project.RotateKeysAsync();
            if (keys is null)
            {
                logger.LogWarning("Demo project could not be created");
                return;
            }

            logger.LogInformation("{Banner}", Banner(baseUrl, keys));
        }
        catch (Exception ex)
        {
            // The demo is a convenience: the host keeps serving without it.
            logger.LogWarning(ex, "Demo project could not be created");
        }
    }

    private string Banner(string baseUrl, IssuedKeys keys)
    {
        // A configured admin key is the operator's secret: never printed; the examples name it instead.
        var admin = adminKey.IsGenerated ? adminKey.AdminKey : "$ADMIN_KEY";
        var text = new StringBuilder();
        text.AppendLine();
        text.AppendLine("==================== KarteMarketo (embedded demo) ====================");
        text.AppendLine(adminKey.IsGenerated
            ? $"Admin key (generated for this run; set Auth:AdminKey to choose one): {admin}"
            : "Admin key: the configured Auth:AdminKey (not printed; the examples below call it $ADMIN_KEY)");
        text.AppendLine($"Project '{DemoProjectId}' API key: {keys.ApiKey}");
        text.AppendLine($"Project '{DemoProjectId}' webhook secret: {keys.WebhookSecret}");
        text.AppendLine($"Marketo sandbox: {baseUrl}/sandbox/marketo   Dashboard: {baseUrl}/dashboard/");
        text.AppendLine("Try:");
        text.AppendLine($"  curl -H 'Authorization: Bearer {admin}' {baseUrl}/v1/projects/{DemoProjectId}/settings");
        text.AppendLine("  # KARTE user -> Marketo lead (creates the lead in the sandbox):");
        text.AppendLine($"  curl -X POST -H 'Authorization: Bearer {keys.ApiKey}' -H 'Content-Type: application/json' \\");
        text.AppendLine($"       -d '{{\"userId\":\"u-1\",\"email\":\"a@example.com\",\"fields\":{{\"firstName\":\"Ann\"}}}}' {baseUrl}/v1/projects/{DemoProjectId}/leads");
        text.AppendLine("  # a moment later (the lead is sent in the background), identify -> realtime lookup -> user info:");
        text.AppendLine($"  curl -X POST -H 'Authorization: Bearer {keys.ApiKey}' -H 'Content-Type: application/json' \\");
        text.AppendLine($"       -d '{{\"userId\":\"u-1\",\"event\":\"identify\",\"values\":{{\"email\":\"a@example.com\"}}}}' {baseUrl}/v1/projects/{DemoProjectId}/events");
        text.AppendLine($"  curl -H 'Authorization: Bearer {admin}' {baseUrl}/v1/projects/{DemoProjectId}/users/u-1");
        text.AppendLine($"  curl -H 'Authorization: Bearer {admin}' {baseUrl}/v1/projects/{DemoProjectId}/quota");
        text.AppendLine($"  # the user info written to KARTE (stand-in at {baseUrl}{Apis.EmbeddedSandboxApi.KartePrefix}) and the write status:");
        text.AppendLine($"  curl {baseUrl}{Apis.EmbeddedSandboxApi.KartePrefix}/_karte/received");
        text.AppendLine($"  curl -H 'Authorization: Bearer {admin}' {baseUrl}/v1/projects/{DemoProjectId}/karte-writes");
        text.Append("======================================================================");
        return text.ToString();
    }

    /// <summary>http://127.0.0.1:port (or the bound address) of the first HTTP address Kestrel listens on.</summary>
    private string LocalBaseUrl()
    {
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var address = addresses.FirstOrDefault(a => a.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
                      ?? addresses.FirstOrDefault()
                      ?? throw new InvalidOperationException("the server reports no listening address");
        var scheme = address[..address.IndexOf("://", StringComparison.Ordinal)];
        var hostAndPort = address[(scheme.Length + 3)..].TrimEnd('/');
        var colon = hostAndPort.LastIndexOf(':');
        var host = hostAndPort[..colon].Trim('[', ']');
        var port = hostAndPort[(colon + 1)..];
        // Wildcards and "localhost" become the IPv4 loopback; a specific address is used as bound.
        var reachable = IPAddress.TryParse(host, out var ip) && !ip.Equals(IPAddress.Any) && !ip.Equals(IPAddress.IPv6Any)
            ? (ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip}]" : ip.ToString())
            : "127.0.0.1";
        return $"{scheme}://{reachable}:{port}";
    }
}
