using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using HdrHistogram;

namespace KarteMarketo.Benchmarks;

/// <summary>Latencies in microseconds (HdrHistogram, 3 significant digits, up to 2 minutes). Thread-safe.</summary>
internal sealed class Latencies
{
    private readonly LongHistogram _histogram = new(120_000_000, 3);
    private readonly Lock _gate = new();

    public void Record(TimeSpan elapsed)
    {
        var micros = Math.Clamp((long)(elapsed.Ticks / 10.0), 1, 120_000_000);
        lock (_gate)
        {
            _histogram.RecordValue(micros);
        }
    }

    public long Count { get { lock (_gate) { return _histogram.TotalCount; } } }

    /// <summary>The latency at <paramref name="percentile"/> in milliseconds (NaN when nothing was recorded).</summary>
    public double Ms(double percentile)
    {
        lock (_gate)
        {
            return _histogram.TotalCount == 0 ? double.NaN : _histogram.GetValueAtPercentile(percentile) / 1000.0;
        }
    }

    public double MeanMs { get { lock (_gate) { return _histogram.TotalCount == 0 ? double.NaN : _histogram.GetMean() / 1000.0; } } }
    public double MaxMs { get { lock (_gate) { return _histogram.TotalCount == 0 ? double.NaN : _histogram.GetMaxValue() / 1000.0; } } }

    public JsonObject ToJson() => new()
    {
        ["count"] = Count,
        ["p50Ms"] = Round(Ms(50)),
        ["p90Ms"] = Round(Ms(90)),
        ["p99Ms"] = Round(Ms(99)),
        ["p999Ms"] = Round(Ms(99.9)),
        ["maxMs"] = Round(MaxMs),
        ["meanMs"] = Round(MeanMs),
    };

    public static double? Round(double value) => double.IsNaN(value) ? null : Math.Round(value, 2);
}

/// <summary>What one load run measured.</summary>
internal sealed class LoadResult(string name)
{
    public string Name => name;
    public long Requests;
    public long Errors;
    public long Events;
    public TimeSpan Elapsed;
    /// <summary>From the request's start to its response.</summary>
    public Latencies Service { get; } = new();
    /// <summary>Open loop only: from the moment the request was due to its response (no coordinated omission).</summary>
    public Latencies Intended { get; } = new();
    /// <summary>Open loop only: the longest intended-start latency (µs) of the requests due in each second, to find
    /// when a tail happened (a stall shows as one bad second, steady queueing as many).</summary>
    public long[] WorstBySecond { get; private set; } = [];

    public void TrackSeconds(int seconds) => WorstBySecond = new long[seconds];

    public void RecordDue(TimeSpan intendedStart, TimeSpan latency)
    {
        var second = (int)intendedStart.TotalSeconds;
        if ((uint)second >= (uint)WorstBySecond.Length) return;
        var micros = latency.Ticks / 10;
        long seen;
        while (micros > (seen = Volatile.Read(ref WorstBySecond[second])) &&
               Interlocked.CompareExchange(ref WorstBySecond[second], micros, seen) != seen) { }
    }
    public ConcurrentDictionary<string, long> ErrorKinds { get; } = new();
    public double? TargetRate { get; set; }
    public long LateStarts;
    /// <summary>Open loop only: requests still waiting or in flight when the drain time ran out (cancelled).</summary>
    public long Abandoned;

    public double RequestsPerSecond => Requests / Elapsed.TotalSeconds;
    public double EventsPerSecond => Events / Elapsed.TotalSeconds;

    public void Error(string kind)
    {
        Interlocked.Increment(ref Errors);
        ErrorKinds.AddOrUpdate(kind, 1, (_, n) => n + 1);
    }

    public JsonObject ToJson()
    {
        var json = new JsonObject
        {
            ["name"] = name,
            ["requests"] = Requests,
            ["events"] = Events,
            ["errors"] = Errors,
            ["errorKinds"] = new JsonObject([.. ErrorKinds.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]),
            ["seconds"] = Math.Round(Elapsed.TotalSeconds, 2),
            ["requestsPerSecond"] = Math.Round(RequestsPerSecond, 1),
            ["eventsPerSecond"] = Math.Round(EventsPerSecond, 1),
            ["latency"] = Service.ToJson(),
        };
        if (TargetRate is { } rate)
        {
            json["targetRequestsPerSecond"] = Math.Round(rate, 1);
            json["latencyFromIntendedStart"] = Intended.ToJson();
            json["lateStarts"] = LateStarts;
            json["abandonedAtDrainTimeout"] = Abandoned;
            json["worstMsBySecond"] = new JsonArray([.. WorstBySecond.Select(m => (JsonNode)Math.Round(m / 1000.0, 1))]);
        }
        return json;
    }
}

/// <summary>
/// HTTP load loops. Both are bounded: the closed loop by a request count and a duration (whichever comes first), the
/// open loop by its schedule (rate × duration requests) and a drain timeout.
/// </summary>
internal static class LoadRunner
{
    /// <summary>
    /// Closed loop: <paramref name="concurrency"/> workers, each sending the next request as soon as its previous one
    /// answered, until <paramref name="maxRequests"/> were sent or <paramref name="duration"/> passed.
    /// <paramref name="send"/> gets the request's sequence number and returns how many events it carried, or throws.
    /// </summary>
    public static async Task<LoadResult> ClosedAsync(string name, int concurrency, long maxRequests, TimeSpan duration,
        Func<long, CancellationToken, Task<int>> send, CancellationToken cancellationToken)
    {
        var result = new LoadResult(name);
        long next = -1;
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            while (!cancellationToken.IsCancellationRequested && clock.Elapsed < duration)
            {
                var i = Interlocked.Increment(ref next);
                if (i >= maxRequests) break;
                await SendOneAsync(result, i, send, clock.Elapsed, clock, null, cancellationToken);
            }
        }, cancellationToken)).ToArray();
        await Task.WhenAll(workers);
        result.Elapsed = clock.Elapsed;
        return result;
    }

    /// <summary>
    /// Open loop: request <c>i</c> is due at <c>i / rate</c> seconds whatever happened to the earlier ones; at most
    /// <paramref name="maxInFlight"/> are outstanding (a request that waits for a slot counts as a late start, and its
    /// wait is in the intended-start latency). Stops issuing after <paramref name="duration"/>; whatever is still
    /// waiting or in flight <paramref name="drainTimeout"/> later is abandoned (cancelled and counted).
    /// <para>
    /// The schedule is kept by a thread of its own that sleeps until the next request is due (<see cref="PreciseSleep"/>)
    /// and starts it itself: the request's send runs on that thread, its answer on the thread pool. An earlier version
    /// polled with <c>Task.Delay(1)</c> and started each request through <c>Task.Run</c>; at 200 requests/s, when
    /// nothing was busy, requests then left about 2 ms after they were due (intended-start p50 3.1 ms against 1.0 ms from
    /// the actual start), and that lateness of the generator was counted as the host's latency.
    /// </para>
    /// </summary>
    public static async Task<LoadResult> PacedAsync(string name, double rate, TimeSpan duration, int maxInFlight,
        Func<long, CancellationToken, Task<int>> send, CancellationToken cancellationToken, TimeSpan? drainTimeout = null)
    {
        var result = new LoadResult(name) { TargetRate = rate };
        result.TrackSeconds((int)Math.Ceiling(duration.TotalSeconds));
        var total = (long)Math.Max(1, Math.Round(rate * duration.TotalSeconds));
        var slots = new SemaphoreSlim(maxInFlight);
        using var drain = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var clock = Stopwatch.StartNew();
        var running = new List<Task>((int)Math.Min(total, 1_000_000));

        async Task RunOneAsync(long i)
        {
            var intended = TimeSpan.FromSeconds(i / rate);
            try
            {
                if (!slots.Wait(0))
                {
                    Interlocked.Increment(ref result.LateStarts);
                    await slots.WaitAsync(drain.Token);
                }
                try
                {
                    await SendOneAsync(result, i, send, intended, clock, result.Intended, drain.Token);
                }
                finally
                {
                    slots.Release();
                }
            }
            catch (OperationCanceledException) when (drain.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                Interlocked.Increment(ref result.Abandoned);
            }
        }

        var schedule = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var pacer = new Thread(() =>
        {
            try
            {
                long issued = 0;
                while (issued < total && !cancellationToken.IsCancellationRequested)
                {
                    var due = Math.Min(total, (long)(clock.Elapsed.TotalSeconds * rate) + 1);
                    for (; issued < due; issued++) running.Add(RunOneAsync(issued));
                    var wait = TimeSpan.FromSeconds(issued / rate) - clock.Elapsed;
                    if (issued < total && wait > TimeSpan.Zero) PreciseSleep(wait);
                }
                schedule.SetResult();
            }
            catch (Exception ex)
            {
                schedule.SetException(ex);
            }
        })
        { IsBackground = true, Name = "paced load schedule" };
        pacer.Start();
        await schedule.Task;
        drain.CancelAfter(drainTimeout ?? TimeSpan.FromSeconds(15));
        await Task.WhenAll(running);
        result.Elapsed = clock.Elapsed;
        return result;
    }

    /// <summary>Sleeps about <paramref name="wait"/> (Linux: nanosleep, within the kernel's timer slack of ~50 µs);
    /// <see cref="Thread.Sleep(TimeSpan)"/> rounds to whole milliseconds.</summary>
    private static void PreciseSleep(TimeSpan wait)
    {
        if (OperatingSystem.IsLinux())
        {
            var request = new TimeSpecNative { Seconds = (long)wait.TotalSeconds, Nanoseconds = wait.Ticks % TimeSpan.TicksPerSecond * 100 };
            _ = NanoSleep(in request, IntPtr.Zero);
        }
        else
        {
            Thread.Sleep(wait);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpecNative
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "nanosleep")]
    private static extern int NanoSleep(in TimeSpecNative request, IntPtr remaining);

    private static async Task SendOneAsync(LoadResult result, long i, Func<long, CancellationToken, Task<int>> send,
        TimeSpan intendedStart, Stopwatch clock, Latencies? intended, CancellationToken cancellationToken)
    {
        var started = clock.Elapsed;
        try
        {
            var events = await send(i, cancellationToken);
            var ended = clock.Elapsed;
            result.Service.Record(ended - started);
            intended?.Record(ended - intendedStart);
            if (intended is not null) result.RecordDue(intendedStart, ended - intendedStart);
            Interlocked.Add(ref result.Events, events);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            var ended = clock.Elapsed;
            result.Service.Record(ended - started);
            intended?.Record(ended - intendedStart);
            if (intended is not null) result.RecordDue(intendedStart, ended - intendedStart);
            result.Error(ex is HttpStatusException status ? $"http:{status.StatusCode}" : ex.GetType().Name);
        }
        Interlocked.Increment(ref result.Requests);
    }
}

/// <summary>A response that was not the expected status.</summary>
internal sealed class HttpStatusException(int statusCode, string body) : Exception($"HTTP {statusCode}: {body}")
{
    public int StatusCode => statusCode;
}
