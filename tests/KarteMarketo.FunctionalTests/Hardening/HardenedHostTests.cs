using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.FrontDoor;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.MarketoSandbox;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using static KarteMarketo.FunctionalTests.FrontDoor.SettingsTestKit;

namespace KarteMarketo.FunctionalTests.Hardening;

/// <summary>A hardened host (API.md, "A hardened host"): what the host itself refuses, closes and limits.</summary>
public sealed class HardenedHostTests
{
    private const string LongAdminKey = "production-admin-key-0123456789abcdef";

    private sealed class ProductionFactory(Dictionary<string, string?> settings) : SettingsAppFactory
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.UseEnvironment("Production");
            builder.UseSetting("Auth:AdminKey", LongAdminKey);
            foreach (var (key, value) in settings) builder.UseSetting(key, value);
        }
    }

    private sealed class ConfiguredFactory(Dictionary<string, string?> settings) : SettingsAppFactory
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            foreach (var (key, value) in settings) builder.UseSetting(key, value);
        }
    }

    [Fact]
    public void A_short_admin_key_refuses_to_start_outside_development()
    {
        using var factory = new ProductionFactory(new() { ["Auth:AdminKey"] = "short-key-31-characters-long-xx" });

        var error = Record.Exception(() => factory.CreateClient());

        Assert.NotNull(error);
        Assert.Contains("shorter than 32", error.ToString());
    }

    [Fact]
    public async Task Production_without_Sandbox_Enabled_serves_no_sandbox()
    {
        await using var factory = new ProductionFactory(new());
        using var http = factory.CreateClient();

        foreach (var path in new[] { "/sandbox/marketo/_sandbox/counters", "/sandbox/marketo/identity/oauth/token?grant_type=client_credentials" })
        {
            using var response = await http.GetAsync(path);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
    }

    [Fact]
    public async Task Sandbox_Enabled_mounts_it_outside_development()
    {
        await using var factory = new ProductionFactory(new() { ["Sandbox:Enabled"] = "true" });
        using var http = factory.CreateClient();

        using var response = await http.GetAsync("/sandbox/marketo/_sandbox/counters");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Failed_authentications_past_the_limit_are_429_with_retry_after_until_the_minute_is_over()
    {
        await using var factory = new ConfiguredFactory(new() { ["Auth:FailedPerMinute"] = "5" });
        using var admin = factory.CreateAdminClient();
        await admin.PutSettingsOkAsync("flood", MinimalSettings());
        using var wrong = factory.CreateProjectClient("pk_flood_wrong-key-0000000000000000");

        for (var i = 0; i < 5; i++)
        {
            using var refused = await wrong.GetAsync("/v1/projects/flood/users/u-1");
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }
        using (var limited = await wrong.GetAsync("/v1/projects/flood/users/u-1"))
        {
            await AssertProblemAsync(limited, HttpStatusCode.TooManyRequests);
            Assert.True(limited.Headers.RetryAfter?.Delta is { TotalSeconds: > 0 and <= 60 }, "Retry-After in seconds");
        }
        // A correct key from the same address learns nothing either, until the minute is over.
        using (var blocked = await admin.GetAsync("/v1/projects/flood/settings"))
            Assert.Equal(HttpStatusCode.TooManyRequests, blocked.StatusCode);

        factory.Time.Advance(TimeSpan.FromSeconds(61));
        using var again = await admin.GetAsync("/v1/projects/flood/settings");
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
    }

    [Fact]
    public async Task Responses_carrying_a_full_key_are_not_stored_by_caches()
    {
        await using var factory = new SettingsAppFactory();
        using var admin = factory.CreateAdminClient();

        using var created = await admin.PutSettingsAsync("no-store", MinimalSettings());
        using var rotated = await admin.PostAsync("/v1/projects/no-store/keys/rotate", null);

        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        Assert.True(created.Headers.CacheControl?.NoStore, "settings creation: no-store");
        Assert.True(rotated.Headers.CacheControl?.NoStore, $"key rotation ({(int)rotated.StatusCode}): no-store");
    }

    [Theory]
    [InlineData("endpoint", "http://attacker.example:9/rest")]
    [InlineData("identity", "http://127.0.0.2:9/identity")]
    [InlineData("identity", "http://127.0.0.1:10/identity")]
    public async Task A_masked_secret_does_not_follow_a_new_host(string field, string url)
    {
        await using var factory = new SettingsAppFactory();
        using var admin = factory.CreateAdminClient();
        await admin.PutSettingsOkAsync("mask-rebind", MinimalSettings());
        var read = await admin.GetSettingsOkAsync("mask-rebind");
        var masked = (string)read["marketo"]!["clientSecret"]!;

        var rebound = MinimalSettings(masked);
        rebound["marketo"]![field] = url;
        using var response = await admin.PutSettingsAsync("mask-rebind", rebound);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["marketo.clientSecret"], ErrorPaths(problem));
        Assert.Equal(UnreachableRest, (string)(await admin.GetSettingsOkAsync("mask-rebind"))["marketo"]!["endpoint"]!);

        // The same host with another path keeps the stored secret, as before.
        var samePlace = MinimalSettings(masked);
        samePlace["marketo"]!["endpoint"] = "http://127.0.0.1:9/other/rest";
        await admin.PutSettingsOkAsync("mask-rebind", samePlace);
    }

    [Fact]
    public async Task Outbound_calls_refuse_private_addresses_without_telling_the_caller_the_address()
    {
        await using var sandbox = await SandboxServer.StartAsync();
        await using var factory = new ConfiguredFactory(new() { ["Outbound:AllowPrivateAddresses"] = "false" });

        var project = await factory.CreateProjectAsync("private-target", sandbox.RestEndpoint, sandbox.IdentityEndpoint,
            sandbox.ClientId, sandbox.ClientSecret);

        var outcome = (string)project.Response["marketoConnection"]!;
        Assert.StartsWith("failed:", outcome);
        Assert.Contains("private", outcome);
        Assert.DoesNotContain("127.0.0.1", outcome);
        Assert.DoesNotContain(sandbox.BaseAddress.Port.ToString(), outcome);
        Assert.Empty(sandbox.Counters.Calls);
    }

    [Fact]
    public async Task Outbound_calls_follow_no_redirect_and_cut_off_bodies_over_16_MiB()
    {
        await using var remote = await HostileRemote.StartAsync();
        await using var factory = new SettingsAppFactory();

        var redirected = await factory.CreateProjectAsync("redirected", new Uri(remote.BaseAddress, "redirect/rest"),
            new Uri(remote.BaseAddress, "redirect/identity"), "id", "secret-0123456789");
        var big = await factory.CreateProjectAsync("big-answer", new Uri(remote.BaseAddress, "big/rest"),
            new Uri(remote.BaseAddress, "big/identity"), "id", "secret-0123456789");

        Assert.StartsWith("failed:", (string)redirected.Response["marketoConnection"]!);
        Assert.Equal(0, remote.TargetHits);
        var bigOutcome = (string)big.Response["marketoConnection"]!;
        Assert.Contains("larger than 16 MiB", bigOutcome);
    }

    [Fact]
    public async Task The_embedded_silo_listens_on_the_loopback_only_and_opens_no_gateway_unless_asked()
    {
        await using var factory = new ConfiguredFactory(new() { ["Orleans:GatewayPort"] = "0" });
        using var http = factory.CreateClient();
        using var ready = await http.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var siloPort = int.Parse(factory.Services.GetRequiredService<IConfiguration>()["Orleans:SiloPort"]!);

        Assert.True(await CanConnectAsync(IPAddress.Loopback, siloPort), "the silo port answers on the loopback");
        foreach (var address in NonLoopbackAddresses())
            Assert.False(await CanConnectAsync(address, siloPort), $"the silo port must not answer on {address}");
        var endpoints = factory.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Orleans.Configuration.EndpointOptions>>().Value;
        Assert.Equal(0, endpoints.GatewayPort);
        Assert.Null(endpoints.GatewayListeningEndpoint);
    }

    internal static IEnumerable<IPAddress> NonLoopbackAddresses() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .Where(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));

    internal static async Task<bool> CanConnectAsync(IPAddress address, int port)
    {
        using var client = new TcpClient(address.AddressFamily);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await client.ConnectAsync(address, port, timeout.Token);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            return false;
        }
    }
}
