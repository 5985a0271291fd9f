using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace KarteMarketo.Benchmarks.Hosting;

/// <summary>
/// A host (server or sandbox) started as its own process with <c>dotnet &lt;dll&gt;</c> on a loopback port. Its output
/// goes to a log file; disposing kills the process (and only it: by its id).
/// </summary>
internal sealed class ProcessHost : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly Lock _logGate = new();
    private readonly Queue<string> _tail = new();
    private bool _closed;

    private ProcessHost(string name, Process process, StreamWriter log, Uri baseAddress, string logPath)
    {
        Name = name;
        _process = process;
        _log = log;
        BaseAddress = baseAddress;
        LogPath = logPath;
    }

    public string Name { get; }
    public Uri BaseAddress { get; }
    public string LogPath { get; }
    public int ProcessId => _process.Id;
    public bool HasExited => _process.HasExited;

    /// <summary>Starts <paramref name="dll"/> listening on <c>http://127.0.0.1:{port}</c> and waits until
    /// <paramref name="readyPath"/> answers 2xx (or fails when the process exits or <paramref name="timeout"/> passes).</summary>
    public static async Task<ProcessHost> StartAsync(string name, string dll, IReadOnlyDictionary<string, string?> environment,
        string readyPath, string logDirectory, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(dll) || !File.Exists(dll))
            throw new FileNotFoundException($"{name}: '{dll}' not found; build it with -c Release or pass its path", dll);

        var port = FreeTcpPort();
        var baseAddress = new Uri($"http://127.0.0.1:{port}/");
        var info = new ProcessStartInfo("dotnet")
        {
            // The host's content root is its working directory: appsettings.json sits next to the dll.
            WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath(dll))!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.GetFullPath(dll));
        // Nothing from the harness's own environment may switch the host's mode behind our back.
        foreach (var key in info.Environment.Keys.Where(k =>
                     k.StartsWith("ConnectionStrings__", StringComparison.OrdinalIgnoreCase) ||
                     k.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase) ||
                     k.StartsWith("Orleans__", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            info.Environment.Remove(key);
        }
        info.Environment["ASPNETCORE_URLS"] = baseAddress.ToString().TrimEnd('/');
        foreach (var (key, value) in environment) info.Environment[key] = value;

        Directory.CreateDirectory(logDirectory);
        var logPath = Path.Combine(logDirectory, $"{name}.log");
        var log = new StreamWriter(logPath, append: false) { AutoFlush = true };
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        if (!process.Start()) throw new InvalidOperationException($"{name}: could not start dotnet");
        var host = new ProcessHost(name, process, log, baseAddress, logPath);
        process.OutputDataReceived += (_, e) => host.Append(e.Data);
        process.ErrorDataReceived += (_, e) => host.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        try
        {
            await host.WaitReadyAsync(readyPath, timeout, cancellationToken);
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
        return host;
    }

    /// <summary>The last lines the host printed (for error messages).</summary>
    public string Tail()
    {
        lock (_logGate)
        {
            return string.Join(Environment.NewLine, _tail);
        }
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_logGate)
        {
            if (_closed) return;
            _log.WriteLine(line);
            _tail.Enqueue(line);
            while (_tail.Count > 30) _tail.Dequeue();
        }
    }

    private async Task WaitReadyAsync(string readyPath, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_process.HasExited)
                throw new InvalidOperationException($"{Name} exited with code {_process.ExitCode} while starting:{Environment.NewLine}{Tail()}");
            try
            {
                using var response = await client.GetAsync(readyPath, cancellationToken);
                if (response.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Starting up slowly.
            }
            await Task.Delay(200, cancellationToken);
        }
        throw new TimeoutException($"{Name} was not ready at {readyPath} within {timeout.TotalSeconds:0} s:{Environment.NewLine}{Tail()}");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _process.WaitForExitAsync(wait.Token);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException)
        {
            // Already gone, or did not stop in time: nothing more we can do without a broader kill.
        }
        lock (_logGate)
        {
            _closed = true;
            _log.Dispose();
        }
        _process.Dispose();
    }

    public static int FreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
