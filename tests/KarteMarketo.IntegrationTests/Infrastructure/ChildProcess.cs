using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace KarteMarketo.IntegrationTests.Infrastructure;

/// <summary>
/// A .NET app started as its own OS process (<c>dotnet App.dll</c>) with its stdout/stderr captured, for tests that
/// need real processes: SIGKILL, graceful stop, several hosts forming a cluster. Base of <see cref="HostProcess"/> and
/// <see cref="SandboxProcess"/>.
/// </summary>
public class ChildProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly StringBuilder output = new();
    private readonly object gate = new();

    protected ChildProcess(string dllPath, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?> environment)
    {
        if (!File.Exists(dllPath))
            throw new FileNotFoundException($"{dllPath} is missing: build the solution (the test project references it).");
        var start = new ProcessStartInfo(DotnetHost)
        {
            WorkingDirectory = Path.GetDirectoryName(dllPath)!, // the app's content root: its appsettings.json
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dllPath);
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        // Nothing from the test runner's environment that would change how the app binds or which database it uses.
        foreach (var key in new[] { "ASPNETCORE_URLS", "ASPNETCORE_ENVIRONMENT", "DOTNET_ENVIRONMENT", "ConnectionStrings__Postgres" })
            start.Environment.Remove(key);
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        foreach (var (key, value) in environment)
        {
            if (value is null) start.Environment.Remove(key);
            else start.Environment[key] = value;
        }

        process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>The dotnet host running the tests (set by the SDK), else <c>dotnet</c> from PATH.</summary>
    public static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } path && File.Exists(path) ? path : "dotnet";

    public int ProcessId => process.Id;
    public bool HasExited => process.HasExited;
    public int? ExitCode => process.HasExited ? process.ExitCode : null;

    /// <summary>Everything the process printed so far (stdout and stderr interleaved).</summary>
    public string Output
    {
        get { lock (gate) return output.ToString(); }
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (gate) output.AppendLine(line);
    }

    /// <summary>SIGKILL to the process and its children: no shutdown code runs (a crash).</summary>
    public async Task KillAsync()
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
    }

    /// <summary>SIGSTOP: the process stops running (a host stalled or starved) but keeps its sockets; see <see cref="Resume"/>.</summary>
    public void Pause()
    {
        if (SysKill(process.Id, SigStop) != 0) throw new InvalidOperationException($"SIGSTOP to {process.Id} failed");
    }

    /// <summary>SIGCONT: a paused process runs again.</summary>
    public void Resume()
    {
        if (SysKill(process.Id, SigCont) != 0) throw new InvalidOperationException($"SIGCONT to {process.Id} failed");
    }

    /// <summary>SIGTERM, then wait for a clean exit (the host's graceful shutdown: the silo leaves the cluster).</summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        if (!process.HasExited)
        {
            if (OperatingSystem.IsWindows()) process.Kill(entireProcessTree: true);
            else _ = SysKill(process.Id, SigTerm);
        }
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
            throw new TimeoutException($"process {process.Id} did not stop within the timeout; output:\n{Output}");
        }
        return process.ExitCode;
    }

    /// <summary>Waits for the process to exit on its own and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
            throw new TimeoutException($"process did not exit within {timeout}; output:\n{Output}");
        }
        return process.ExitCode;
    }

    /// <summary>Polls an HTTP URL until it answers with <paramref name="accept"/>; fails early if the process dies.</summary>
    protected async Task WaitForHttpAsync(Uri url, Func<System.Net.HttpStatusCode, bool> accept, TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + timeout;
        using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(200));
        while (true)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"process exited with code {process.ExitCode} before {url} was ready; output:\n{Output}");
            try
            {
                using var response = await http.GetAsync(url);
                if (accept(response.StatusCode)) return;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Busy starting.
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{url} not ready within {timeout}; output:\n{Output}");
            await poll.WaitForNextTickAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        try
        {
            await KillAsync();
        }
        catch (InvalidOperationException)
        {
            // Never started or already gone.
        }
        process.Dispose();
    }

    private const int SigTerm = 15;
    private const int SigCont = 18;   // Linux numbering (x86-64 and arm64)
    private const int SigStop = 19;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SysKill(int pid, int signal);
}
