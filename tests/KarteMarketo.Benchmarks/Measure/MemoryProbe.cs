using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Text.Json.Nodes;
using KarteMarketo.Benchmarks.Hosting;
using Microsoft.Diagnostics.NETCore.Client;

namespace KarteMarketo.Benchmarks;

/// <summary>One memory reading of the server process.</summary>
internal sealed record MemoryReading(string Label, int Keys, double WorkingSetMb, double? ManagedHeapMb, double? CommittedMb,
    double? Activations, bool FullGcObserved, double? Gen2Collections)
{
    public JsonObject ToJson() => new()
    {
        ["label"] = Label,
        ["keys"] = Keys,
        ["workingSetMb"] = Math.Round(WorkingSetMb, 1),
        ["managedHeapMb"] = ManagedHeapMb is { } heap ? Math.Round(heap, 1) : null,
        ["gcCommittedMb"] = CommittedMb is { } committed ? Math.Round(committed, 1) : null,
        ["activations"] = Activations,
        ["fullGcBeforeReading"] = FullGcObserved,
        ["gen2Collections"] = Gen2Collections,
    };
}

/// <summary>
/// Reads the server's working set (<c>/proc/&lt;pid&gt;/status</c> VmRSS) and managed heap (the runtime's own
/// <c>dotnet.gc.last_collection.heap.size</c> through <c>/metrics</c>). Before a reading it induces a full blocking GC
/// in the server from outside, the way <c>dotnet-gcdump</c> does (an EventPipe session with the GCHeapCollect keyword),
/// so that the heap figure is live data rather than whatever the last lazy collection left.
/// </summary>
internal static class MemoryProbe
{
    private const long GcKeyword = 0x1;
    private const long GcHeapCollectKeyword = 0x800000;
    private const string HeapSize = "dotnet_gc_last_collection_heap_size_bytes";
    private const string Committed = "dotnet_gc_last_collection_memory_committed_size_bytes";
    private const string Collections = "dotnet_gc_collections_total";
    private const string Gen2 = "gc_heap_generation=\"gen2\"";

    public static async Task<MemoryReading> ReadAsync(ServerHandle server, string label, int keys, CancellationToken cancellationToken)
    {
        var before = await server.MetricsAsync(cancellationToken);
        var gen2Before = before.Sum(Collections, Gen2);
        var induced = await InduceFullGcAsync(server.Host.ProcessId, cancellationToken);

        // The runtime's gauges report the last collection; wait (bounded) until the induced one shows up.
        PrometheusText after = before;
        var observed = false;
        var wait = Stopwatch.StartNew();
        while (wait.Elapsed < TimeSpan.FromSeconds(10))
        {
            after = await server.MetricsAsync(cancellationToken);
            if (induced && after.Sum(Collections, Gen2) is { } gen2 && gen2 > (gen2Before ?? 0))
            {
                observed = true;
                break;
            }
            if (!induced) break;
            await Task.Delay(250, cancellationToken);
        }
        // Read the working set after the GC, which may return memory to the OS.
        var workingSetMb = WorkingSetKb(server.Host.ProcessId) / 1024.0;
        return new MemoryReading(label, keys, workingSetMb,
            after.Sum(HeapSize) is { } heap ? heap / 1024 / 1024 : null,
            after.Sum(Committed) is { } committed ? committed / 1024 / 1024 : null,
            after.Sum("orleans_catalog_activations"),
            observed,
            after.Sum(Collections, Gen2));
    }

    /// <summary>VmRSS of a process in kB (Linux).</summary>
    public static long WorkingSetKb(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (!line.StartsWith("VmRSS:", StringComparison.Ordinal)) continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return long.Parse(parts[1], CultureInfo.InvariantCulture);
        }
        throw new InvalidOperationException($"no VmRSS for process {pid}");
    }

    /// <summary>Asks the runtime of <paramref name="pid"/> for a full blocking GC over its diagnostics IPC.
    /// False where that is not possible (then the reading uses the last GC the server ran by itself).</summary>
    private static async Task<bool> InduceFullGcAsync(int pid, CancellationToken cancellationToken)
    {
        try
        {
            var client = new DiagnosticsClient(pid);
            var providers = new[]
            {
                new EventPipeProvider("Microsoft-Windows-DotNETRuntime", EventLevel.Informational, GcKeyword | GcHeapCollectKeyword),
            };
            using var session = client.StartEventPipeSession(providers, requestRundown: false, circularBufferMB: 16);
            // The session's stream must be drained or the runtime blocks writing to it.
            var drain = session.EventStream.CopyToAsync(Stream.Null, cancellationToken);
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            await session.StopAsync(cancellationToken);
            await drain;
            return true;
        }
        catch (Exception ex) when (ex is ServerNotAvailableException or UnsupportedCommandException or IOException or TimeoutException
                                       or UnauthorizedAccessException or ServerErrorException)
        {
            Console.Error.WriteLine($"  (could not induce a GC in the server: {ex.GetType().Name}: {ex.Message})");
            return false;
        }
    }
}
