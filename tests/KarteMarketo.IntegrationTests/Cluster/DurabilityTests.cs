using KarteMarketo.IntegrationTests.Infrastructure;

namespace KarteMarketo.IntegrationTests.Cluster;

/// <summary>Grain state written by one host process survives that process being SIGKILLed.</summary>
public sealed class DurabilityTests
{
    [Fact]
    public async Task Settings_written_by_a_killed_host_are_read_back_by_a_new_host()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        await using var sandbox = await SandboxProcess.StartAsync();
        var options = new HostOptions
        {
            PostgresConnectionString = db.ConnectionString,
            Settings = new Dictionary<string, string?> { ["Marketo__AllowInsecureEndpoints"] = "true" },
        };

        string issuedApiKey;
        HostOptions restart;
        await using (var first = await HostProcess.StartAsync(options))
        {
            // The replacement comes back on the same address and ports, as a restarted host does: the cluster then
            // knows at once that the old incarnation is gone (a newer generation on the same endpoint).
            restart = options with { HttpPort = first.HttpPort, SiloPort = first.SiloPort, GatewayPort = first.GatewayPort };
            var created = await ProjectSettingsClient.PutAsync(first, "durable", ProjectSettingsClient.Settings("sandbox-client", sandbox.BaseAddress));
            issuedApiKey = (string)created["apiKey"]!;

            // A crash: no graceful shutdown, no deactivation, nothing flushed on the way out.
            await first.KillAsync();
        }

        // The state is in PostgreSQL under the prefixed string key, not in any process.
        Assert.Equal(1, await db.ScalarAsync<int>("SELECT count(*) FROM orleansstorage WHERE grainidextensionstring = 'p:durable' AND payloadbinary IS NOT NULL"));

        await using var second = await HostProcess.StartAsync(restart);
        var read = await ProjectSettingsClient.GetAsync(second, "durable");
        Assert.Equal("sandbox-client", (string)read["marketo"]!["clientId"]!);
        Assert.Equal(new Uri(sandbox.BaseAddress, "rest").ToString(), (string)read["marketo"]!["endpoint"]!);
        // The key issued before the crash is still the project's key (shown masked: its last four characters).
        Assert.EndsWith(issuedApiKey[^4..], (string)read["apiKey"]!);
        Assert.NotEqual(issuedApiKey, (string)read["apiKey"]!);
    }
}
