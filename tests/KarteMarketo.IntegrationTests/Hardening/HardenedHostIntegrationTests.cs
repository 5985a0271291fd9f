using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.IntegrationTests.Infrastructure;
using Npgsql;

namespace KarteMarketo.IntegrationTests.Hardening;

/// <summary>
/// A hardened host on PostgreSQL (API.md, "A hardened host"), as real processes: no project secret is in plain text
/// in any table, state from before encryption is read and rewritten encrypted, and the Orleans ports are closed to
/// everything but the advertised address (the gateway not open at all unless asked for).
/// </summary>
public sealed class HardenedHostIntegrationTests
{
    private static HostOptions Options(TestDatabase db, Dictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Marketo__AllowInsecureEndpoints"] = "true",
            ["Marketo__Client__MaxRetries"] = "0",
        };
        foreach (var (key, value) in extra ?? []) settings[key] = value;
        return new HostOptions { PostgresConnectionString = db.ConnectionString, Settings = settings };
    }

    private static readonly string AppToken = "karte-token-" + Guid.NewGuid().ToString("N");

    private static JsonObject SettingsWith(Uri marketo, string secret, string munchkin, string? appToken = null)
    {
        var settings = ProjectSettingsClient.Settings("secret-client", marketo, secret);
        settings["marketo"]!["munchkinPrivateKey"] = munchkin;
        settings["karte"] = new JsonObject { ["enabled"] = false, ["appToken"] = appToken ?? AppToken };
        settings["realtimeSync"] = new JsonObject { ["enabled"] = false };
        settings["periodicSync"] = new JsonObject { ["enabled"] = false };
        return settings;
    }

    [Fact]
    public async Task No_secret_is_in_plain_text_in_any_table_and_old_plain_text_state_is_rewritten_encrypted()
    {
        var secret = "plain-secret-" + Guid.NewGuid().ToString("N");
        var munchkin = "munchkin-" + Guid.NewGuid().ToString("N");
        await using var db = await TestPostgres.CreateDatabaseAsync();
        await using var sandbox = await SandboxProcess.StartAsync(new Dictionary<string, string?>
        {
            ["Sandbox__ClientId"] = "secret-client",
            ["Sandbox__ClientSecret"] = secret,
        });

        await using (var host = await HostProcess.StartAsync(Options(db)))
        {
            var saved = await ProjectSettingsClient.PutAsync(host, "secrets", SettingsWith(new Uri(sandbox.BaseAddress, "/"), secret, munchkin));
            Assert.Equal("ok", (string?)saved["marketoConnection"]);
            Assert.DoesNotContain(secret, host.Output);
        }
        Assert.Empty(await TablesHoldingAsync(db, secret));
        Assert.Empty(await TablesHoldingAsync(db, munchkin));
        Assert.Empty(await TablesHoldingAsync(db, AppToken));
        Assert.True(await db.ScalarAsync<long>("SELECT count(*) FROM data_protection_keys") >= 1, "the key ring is in PostgreSQL");

        // The upgrade path: put the secrets back in plain text, as a host before encryption wrote them.
        await RewriteStateAsync(db, "p:secrets", (name, value) => name switch
        {
            "clientSecret" or "ClientSecret" => secret,
            "munchkinPrivateKey" or "MunchkinPrivateKey" => munchkin,
            "appToken" or "AppToken" => AppToken,
            _ => value,
        });
        Assert.Contains("orleansstorage", await TablesHoldingAsync(db, secret));

        await using (var host = await HostProcess.StartAsync(Options(db)))
        {
            // Read old: the masked secret sent back is the plain-text one, and Marketo accepts it.
            var read = await ProjectSettingsClient.GetAsync(host, "secrets");
            // Write encrypted: activating the grain (for that read) already rewrote its state.
            Assert.Empty(await TablesHoldingAsync(db, secret));
            Assert.Empty(await TablesHoldingAsync(db, munchkin));
            Assert.Empty(await TablesHoldingAsync(db, AppToken));
            var again = SettingsWith(new Uri(sandbox.BaseAddress, "/"), (string)read["marketo"]!["clientSecret"]!, (string)read["marketo"]!["munchkinPrivateKey"]!,
                (string)read["karte"]!["appToken"]!);
            var resaved = await ProjectSettingsClient.PutAsync(host, "secrets", again);
            Assert.Equal("ok", (string?)resaved["marketoConnection"]);
        }
        Assert.Empty(await TablesHoldingAsync(db, secret));
        Assert.Empty(await TablesHoldingAsync(db, munchkin));
    }

    [Fact]
    public async Task The_silo_port_answers_on_the_advertised_address_only_and_the_gateway_is_closed_unless_set()
    {
        var others = NonLoopbackAddresses().ToList();
        await using var db = await TestPostgres.CreateDatabaseAsync();
        // HostProcess advertises 127.0.0.1; no Orleans__GatewayPort means no gateway.
        await using var host = await HostProcess.StartAsync(Options(db, new() { ["Orleans__GatewayPort"] = null }));

        Assert.True(await CanConnectAsync(IPAddress.Loopback, host.SiloPort), "the silo answers on its advertised address");
        foreach (var address in others)
        {
            Assert.False(await CanConnectAsync(address, host.SiloPort), $"the silo port must not answer on {address}");
        }
        // The port the test harness would have given the gateway stays closed, on every address.
        Assert.False(await CanConnectAsync(IPAddress.Loopback, host.GatewayPort), "no gateway on the loopback");
        foreach (var address in others) Assert.False(await CanConnectAsync(address, host.GatewayPort), $"no gateway on {address}");
        // The membership table advertises no gateway (proxy port 0) for this silo.
        Assert.Equal(0, await db.ScalarAsync<int>($"SELECT proxyport FROM orleansmembershiptable WHERE port = {host.SiloPort}"));
    }

    /// <summary>Every table (public schema) with a row whose text, or the hex of its binary columns, holds
    /// <paramref name="needle"/>.</summary>
    private static async Task<List<string>> TablesHoldingAsync(TestDatabase db, string needle)
    {
        var hex = Convert.ToHexStringLower(Encoding.UTF8.GetBytes(needle));
        var found = new List<string>();
        await using var connection = db.OpenConnection();
        var tables = new List<string>();
        await using (var list = new NpgsqlCommand("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", connection))
        await using (var reader = await list.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync()) tables.Add(reader.GetString(0));
        }
        foreach (var table in tables)
        {
            await using var scan = new NpgsqlCommand(
                $"SELECT count(*) FROM \"{table}\" t WHERE strpos(row_to_json(t)::text, @plain) > 0 OR strpos(lower(row_to_json(t)::text), @hex) > 0", connection);
            scan.Parameters.AddWithValue("plain", needle);
            scan.Parameters.AddWithValue("hex", hex);
            if ((long)(await scan.ExecuteScalarAsync())! > 0) found.Add(table);
        }
        return found;
    }

    /// <summary>Rewrites the string members of a grain's stored JSON state (host stopped).</summary>
    private static async Task RewriteStateAsync(TestDatabase db, string grainKey, Func<string, string, string> rewrite)
    {
        await using var connection = db.OpenConnection();
        byte[] payload;
        await using (var read = new NpgsqlCommand("SELECT payloadbinary FROM orleansstorage WHERE grainidextensionstring = @key", connection))
        {
            read.Parameters.AddWithValue("key", grainKey);
            payload = (byte[])(await read.ExecuteScalarAsync())!;
        }
        var node = JsonNode.Parse(payload)!;
        Walk(node, rewrite);
        await using var write = new NpgsqlCommand("UPDATE orleansstorage SET payloadbinary = @payload WHERE grainidextensionstring = @key", connection);
        write.Parameters.AddWithValue("key", grainKey);
        write.Parameters.AddWithValue("payload", Encoding.UTF8.GetBytes(node.ToJsonString()));
        Assert.Equal(1, await write.ExecuteNonQueryAsync());
    }

    private static void Walk(JsonNode node, Func<string, string, string> rewrite)
    {
        if (node is JsonObject o)
        {
            foreach (var (name, child) in o.ToList())
            {
                if (child is JsonValue v && v.TryGetValue<string>(out var text)) o[name] = rewrite(name, text);
                else if (child is not null) Walk(child, rewrite);
            }
        }
        else if (node is JsonArray a)
        {
            foreach (var child in a) if (child is not null) Walk(child, rewrite);
        }
    }

    private static IEnumerable<IPAddress> NonLoopbackAddresses() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .Where(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));

    private static async Task<bool> CanConnectAsync(IPAddress address, int port)
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
