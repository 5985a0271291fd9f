using System.Diagnostics;
using System.Text.RegularExpressions;

namespace KarteMarketo.IntegrationTests.Cluster.Reliability;

/// <summary>
/// Stops and starts the test PostgreSQL cluster itself (the one behind <c>KARTEMARKETO_TEST_POSTGRES</c>), found through
/// <c>KARTEMARKETO_PGDIR</c>, which <c>db/dev-postgres.sh</c> exports (and so <c>.ci/run</c>). It is started again with
/// exactly the options it was started with (<c>data/postmaster.opts</c>), so port and socket stay the same. As root,
/// pg_ctl runs as the <c>postgres</c> user, like the script does.
/// </summary>
public static partial class PostgresServer
{
    public const string DirectoryVariable = "KARTEMARKETO_PGDIR";

    public static string Directory
    {
        get
        {
            var dir = Environment.GetEnvironmentVariable(DirectoryVariable);
            if (string.IsNullOrWhiteSpace(dir) || !File.Exists(Path.Combine(dir, "data", "postmaster.opts")))
                throw new InvalidOperationException(
                    $"{DirectoryVariable} must name the folder of the test PostgreSQL cluster (data/ inside), as exported by " +
                    "`eval \"$(bash db/dev-postgres.sh)\"` and .ci/run: the PostgreSQL restart test stops and starts that cluster.");
            return dir;
        }
    }

    public static Task StopAsync() => PgCtlAsync(["-D", DataDirectory, "-m", "fast", "-w", "-t", "60", "stop"]);

    public static Task StartAsync()
    {
        var (_, options) = ReadOptions();
        return PgCtlAsync(["-D", DataDirectory, "-l", Path.Combine(Directory, "server.log"), "-w", "-t", "60", "-o", options, "start"]);
    }

    public static bool IsRunning => File.Exists(Path.Combine(DataDirectory, "postmaster.pid"));

    private static string DataDirectory => Path.Combine(Directory, "data");

    /// <summary>The server binary's folder and its command-line options other than <c>-D</c>.</summary>
    private static (string BinDirectory, string Options) ReadOptions()
    {
        var text = File.ReadAllText(Path.Combine(DataDirectory, "postmaster.opts")).Trim();
        var binary = text.Split(' ', 2)[0];
        var args = Quoted().Matches(text).Select(m => m.Groups[1].Value).ToList();
        var options = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] == "-D") { i++; continue; }
            options.Add(args[i]);
        }
        return (Path.GetDirectoryName(binary)!, string.Join(' ', options));
    }

    private static async Task PgCtlAsync(IReadOnlyList<string> arguments)
    {
        var pgCtl = Path.Combine(ReadOptions().BinDirectory, "pg_ctl");
        var asRoot = Environment.UserName == "root";
        var start = new ProcessStartInfo(asRoot ? "runuser" : pgCtl)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (asRoot)
            foreach (var a in new[] { "-u", "postgres", "--", pgCtl }) start.ArgumentList.Add(a);
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"pg_ctl {string.Join(' ', arguments)} exited {process.ExitCode}: {await stdout} {await stderr}");
    }

    [GeneratedRegex("\"([^\"]*)\"")]
    private static partial Regex Quoted();
}
