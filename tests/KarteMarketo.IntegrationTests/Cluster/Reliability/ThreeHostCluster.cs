using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KarteMarketo.IntegrationTests.Infrastructure;

namespace KarteMarketo.IntegrationTests.Cluster.Reliability;

/// <summary>
/// Three host processes forming one cluster on loopback, started the way docker-compose.yml does: a one-shot
/// <c>migrate</c>, then three <c>dotnet KarteMarketo.Server.dll</c> with <c>Database__MigrateOnStart=false</c>,
/// <c>Marketo__AllowInsecureEndpoints=true</c>, Production, one cluster id, their own silo/gateway ports.
/// A host can be SIGKILLed and started again on the same ports.
/// </summary>
public sealed class ThreeHostCluster : IAsyncDisposable
{
    private readonly HostProcess?[] hosts = new HostProcess?[3];
    private readonly HostOptions[] options = new HostOptions[3];

    public string ConnectionString { get; }

    private ThreeHostCluster(string connectionString)
    {
        ConnectionString = connectionString;
    }

    public static async Task<ThreeHostCluster> StartAsync(string connectionString)
    {
        var cluster = new ThreeHostCluster(connectionString);
        var migrate = await HostProcess.RunVerbAsync(new HostOptions { PostgresConnectionString = connectionString }, "migrate");
        if (migrate.ExitCode != 0) throw new InvalidOperationException($"migrate exited {migrate.ExitCode}:\n{migrate.Output}");
        for (var i = 0; i < 3; i++)
        {
            cluster.options[i] = new HostOptions
            {
                PostgresConnectionString = connectionString,
                HttpPort = FreePort.Next(),
                SiloPort = FreePort.Next(),
                GatewayPort = FreePort.Next(),
                Settings = new Dictionary<string, string?>
                {
                    ["Database__MigrateOnStart"] = "false",
                    ["Marketo__AllowInsecureEndpoints"] = "true",
                },
            };
        }
        try
        {
            // The first host creates the cluster; the other two join it together.
            cluster.hosts[0] = await HostProcess.StartAsync(cluster.options[0]);
            var rest = await Task.WhenAll(HostProcess.StartAsync(cluster.options[1]), HostProcess.StartAsync(cluster.options[2]));
            (cluster.hosts[1], cluster.hosts[2]) = (rest[0], rest[1]);
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
        return cluster;
    }

    public HostProcess this[int index] => hosts[index] ?? throw new InvalidOperationException($"host {index} is down");

    public bool IsUp(int index) => hosts[index] is { HasExited: false };

    /// <summary>Indices of the hosts that are up.</summary>
    public IEnumerable<int> Up => Enumerable.Range(0, 3).Where(IsUp);

    public Uri BaseAddressOf(int index) => new($"http://127.0.0.1:{options[index].HttpPort}");

    public int SiloPortOf(int index) => options[index].SiloPort;

    /// <summary>SIGKILL: no graceful shutdown, the silo does not leave the cluster.</summary>
    public async Task KillAsync(int index)
    {
        var host = hosts[index] ?? throw new InvalidOperationException($"host {index} is down");
        await host.KillAsync();
    }

    /// <summary>Starts a killed host again on its ports; returns once it is ready.</summary>
    public async Task RestartAsync(int index)
    {
        if (hosts[index] is { } old)
        {
            Output.Add($"--- host {index} (killed) ---\n{old.Output}");
            await old.DisposeAsync();
        }
        hosts[index] = null;
        hosts[index] = await HostProcess.StartAsync(options[index], TimeSpan.FromSeconds(120));
    }

    /// <summary>The membership generation of host <paramref name="index"/>'s running silo (its row in
    /// <c>orleansmembershiptable</c> that is Active), or null when there is none.</summary>
    public async Task<int?> GenerationOfAsync(int index)
    {
        await using var connection = new Npgsql.NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(
            "SELECT max(generation) FROM orleansmembershiptable WHERE port = @port AND status = 3", connection);
        command.Parameters.AddWithValue("port", SiloPortOf(index));
        return await command.ExecuteScalarAsync() is int generation ? generation : null;
    }

    /// <summary>The membership status of one silo incarnation (SiloStatus: 3 Active, 6 Dead), or null when unknown.</summary>
    public async Task<int?> StatusOfAsync(int index, int generation)
    {
        await using var connection = new Npgsql.NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(
            "SELECT status FROM orleansmembershiptable WHERE port = @port AND generation = @generation", connection);
        command.Parameters.AddWithValue("port", SiloPortOf(index));
        command.Parameters.AddWithValue("generation", generation);
        return await command.ExecuteScalarAsync() is int status ? status : null;
    }

    /// <summary>Polls the membership table until that silo incarnation is Dead; returns when that was seen, or null
    /// after <paramref name="limit"/>.</summary>
    public async Task<DateTimeOffset?> WaitDeclaredDeadAsync(int index, int generation, TimeSpan limit)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        while (clock.Elapsed < limit)
        {
            if (await StatusOfAsync(index, generation) == 6) return DateTimeOffset.UtcNow;
            await poll.WaitForNextTickAsync();
        }
        return null;
    }

    /// <summary>SIGSTOP / SIGCONT of a host: it stalls with its sockets open, then runs on.</summary>
    public void Pause(int index) => this[index].Pause();

    public void Resume(int index) => this[index].Resume();

    /// <summary>Output of killed host processes, for failure messages.</summary>
    public List<string> Output { get; } = [];

    public string AllOutput() => string.Join("\n", Output.Concat(Enumerable.Range(0, 3)
        .Where(i => hosts[i] is not null).Select(i => $"--- host {i} ---\n{Tail(hosts[i]!.Output, 20000)}")));

    private static string Tail(string text, int chars) => text.Length <= chars ? text : text[^chars..];

    /// <summary>The first live host answering <paramref name="path"/> with 200 (admin key).</summary>
    public async Task<JsonObject?> GetAdminAsync(string path)
    {
        foreach (var i in Up)
        {
            try
            {
                using var admin = this[i].CreateAdminClient();
                using var response = await admin.GetAsync(path);
                if (response.StatusCode == HttpStatusCode.OK)
                    return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
            }
            catch (HttpRequestException)
            {
            }
            catch (System.Net.Sockets.SocketException)
            {
                // A host killed just as the connection opened (see ReliabilityProject.SendAsync): try the next one.
            }
            catch (TaskCanceledException)
            {
            }
        }
        return null;
    }

    /// <summary>Creates or replaces a project's settings through host 0 and returns its API key.</summary>
    public async Task<string> PutProjectAsync(string projectId, JsonObject settings) =>
        (string)(await PutProjectSettingsAsync(projectId, settings))["apiKey"]!;

    /// <summary>Creates or replaces a project's settings through the first live host; returns the settings response
    /// (API key, webhook secret, connection checks).</summary>
    public async Task<JsonObject> PutProjectSettingsAsync(string projectId, JsonObject settings)
    {
        using var admin = this[Up.First()].CreateAdminClient();
        using var response = await admin.PutAsJsonAsync($"/v1/projects/{projectId}/settings", settings);
        var text = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException($"PUT settings {projectId}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>Where <see cref="DisposeAsync"/> leaves every host's output (for a failed run's post-mortem).</summary>
    public string? LogName { get; set; }

    public async ValueTask DisposeAsync()
    {
        foreach (var host in hosts)
            if (host is not null)
                await host.DisposeAsync();
        if (LogName is not null)
        {
            try
            {
                var folder = Path.Combine(ReliabilitySummary.ResultsFolder(), "reliability-logs");
                Directory.CreateDirectory(folder);
                await File.WriteAllTextAsync(Path.Combine(folder, LogName + ".log"), string.Join("\n", Output.Concat(
                    Enumerable.Range(0, 3).Where(i => hosts[i] is not null).Select(i => $"--- host {i} ---\n{hosts[i]!.Output}"))));
            }
            catch (IOException)
            {
                // Diagnostics only.
            }
        }
    }
}
