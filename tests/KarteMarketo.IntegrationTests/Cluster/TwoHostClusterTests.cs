using System.Net;
using KarteMarketo.IntegrationTests.Infrastructure;
using Npgsql;

namespace KarteMarketo.IntegrationTests.Cluster;

/// <summary>
/// Two host processes on one database form one cluster (both Active in the membership table), and a grain reached
/// through either front door is one activation; a SIGKILLed host is declared dead and the survivor carries on. Also
/// checks the operations endpoints of a PostgreSQL-mode host outside Development (dashboard behind the admin key).
/// </summary>
public sealed class TwoHostClusterTests(TwoHostClusterFixture fixture) : IClassFixture<TwoHostClusterFixture>
{
    private readonly TestDatabase db = fixture.Database;
    private readonly HostProcess a = fixture.A; // stays up in every test
    private readonly HostProcess b = fixture.B; // may be killed by a test

    [Fact]
    public async Task Two_hosts_form_one_cluster_with_one_activation_per_grain_and_survive_a_kill()
    {
        // Both silos are Active members of one cluster (and the schema was migrated once, by whichever came first).
        Assert.Equal(new[] { a.SiloPort, b.SiloPort }.Order(), await SiloPortsAsync(status: 3));
        Assert.Equal(4, await db.ScalarAsync<int>("SELECT count(*) FROM schema_migrations WHERE version < 100"));

        // Each write goes through one front door and each read through the other. Two activations would each keep
        // their own copy in memory, and one of these reads would see a stale client id.
        await ProjectSettingsClient.PutAsync(a, "shared", ProjectSettingsClient.Settings("via-a", fixture.Marketo));
        Assert.Equal("via-a", await ClientIdAsync(b, "shared"));
        await ProjectSettingsClient.PutAsync(b, "shared", ProjectSettingsClient.Settings("via-b", fixture.Marketo));
        Assert.Equal("via-b", await ClientIdAsync(a, "shared"));
        await ProjectSettingsClient.PutAsync(a, "shared", ProjectSettingsClient.Settings("via-a-again", fixture.Marketo));
        Assert.Equal("via-a-again", await ClientIdAsync(b, "shared"));
        Assert.Equal(1, await db.ScalarAsync<int>("SELECT count(*) FROM orleansstorage WHERE grainidextensionstring = 'p:shared'"));

        // SIGKILL b: the survivor declares it dead within seconds and serves its grains (reactivated from storage).
        await b.KillAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        while (!(await SiloPortsAsync(status: 6)).Contains(b.SiloPort))
        {
            Assert.True(DateTime.UtcNow < deadline, "the killed host was not declared dead within 60 s");
            await poll.WaitForNextTickAsync();
        }
        Assert.Equal("via-a-again", await ClientIdAsync(a, "shared"));
        await ProjectSettingsClient.PutAsync(a, "shared", ProjectSettingsClient.Settings("after-kill", fixture.Marketo));
        Assert.Equal("after-kill", await ClientIdAsync(a, "shared"));
    }

    private static async Task<string> ClientIdAsync(HostProcess host, string projectId) =>
        (string)(await ProjectSettingsClient.GetAsync(host, projectId))["marketo"]!["clientId"]!;

    private async Task<List<int>> SiloPortsAsync(int status)
    {
        await using var connection = db.OpenConnection();
        await using var command = new NpgsqlCommand(
            "SELECT port FROM orleansmembershiptable WHERE deploymentid = 'kartemarketo' AND status = @status ORDER BY port", connection);
        command.Parameters.AddWithValue("status", status);
        var ports = new List<int>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) ports.Add(reader.GetInt32(0));
        return ports;
    }

    [Fact]
    public async Task Operations_endpoints_answer_and_the_dashboard_needs_the_admin_key()
    {
        using var anonymous = a.CreateClient();
        var ready = await anonymous.GetStringAsync("/health/ready");
        Assert.Contains("\"postgres\"", ready);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health/live")).StatusCode);
        Assert.Contains("orleans_", await anonymous.GetStringAsync("/metrics"));
        Assert.Contains("\"openapi\"", await anonymous.GetStringAsync("/openapi/v1.json"));

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/dashboard/")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/dashboard/ClusterStats")).StatusCode);
        using (var wrongKey = a.CreateClient("not-the-admin-key"))
            Assert.Equal(HttpStatusCode.Unauthorized, (await wrongKey.GetAsync("/dashboard/")).StatusCode);
        using (var admin = a.CreateAdminClient())
        {
            Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/dashboard/")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/dashboard/ClusterStats")).StatusCode);
        }

        // A browser: ?key= once sets a cookie (not the key itself) that lets the dashboard's own requests in.
        var cookies = new CookieContainer();
        using var browser = new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false })
        {
            BaseAddress = a.BaseAddress,
        };
        var login = await browser.GetAsync($"/dashboard/?key={Uri.EscapeDataString(a.Options.AdminKey)}");
        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        var cookie = Assert.Single(cookies.GetCookies(new Uri(a.BaseAddress, "/dashboard/")));
        Assert.DoesNotContain(a.Options.AdminKey, cookie.Value);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/dashboard/ClusterStats")).StatusCode);
    }
}

/// <summary>Two hosts on one fresh database, started at once; shared by the tests of <see cref="TwoHostClusterTests"/>.</summary>
public sealed class TwoHostClusterFixture : IAsyncLifetime
{
    public TestDatabase Database { get; private set; } = null!;
    public HostProcess A { get; private set; } = null!;
    public HostProcess B { get; private set; } = null!;
    /// <summary>Where the projects' Marketo settings point: nothing listens there (these tests never sync).</summary>
    public Uri Marketo { get; } = ProjectSettingsClient.ClosedLocalPort();

    public async Task InitializeAsync()
    {
        Database = await TestPostgres.CreateDatabaseAsync();
        var options = new HostOptions
        {
            PostgresConnectionString = Database.ConnectionString,
            Settings = new Dictionary<string, string?> { ["Marketo__AllowInsecureEndpoints"] = "true" },
        };
        // Both start at once against an empty database: both run the migrator, the advisory lock serialises them.
        var started = await Task.WhenAll(HostProcess.StartAsync(options), HostProcess.StartAsync(options));
        (A, B) = (started[0], started[1]);
    }

    public async Task DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
        await Database.DisposeAsync();
    }
}
