using KarteMarketo.Contracts.Sync;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Sync;

/// <summary>
/// Per silo: buffers the emails of identify events per project and hands them to the project's
/// <see cref="ISyncSchedulerGrain"/> in bulk, every <see cref="FlushInterval"/> (on the injected clock) or at
/// <see cref="FlushThreshold"/> emails, so the periodic sync costs one grain call per second per project, not one per
/// event. Whatever is buffered is flushed when the host stops.
/// </summary>
public sealed partial class IdentifyEmailCollector(IGrainFactory grains, TimeProvider time, ILogger<IdentifyEmailCollector> logger)
    : IHostedService, IDisposable
{
    public static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(1);
    public const int FlushThreshold = 1_000;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, HashSet<string>> _buffers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Task> _flushes = new(StringComparer.Ordinal);
    private ITimer? _timer;
    private bool _armed;

    /// <summary>Buffers a normalised email for the project's next periodic run.</summary>
    public void Add(string projectId, string email)
    {
        var full = false;
        lock (_gate)
        {
            if (!_buffers.TryGetValue(projectId, out var buffer)) _buffers[projectId] = buffer = new HashSet<string>(StringComparer.Ordinal);
            buffer.Add(email);
            full = buffer.Count >= FlushThreshold;
            ArmLocked();
        }
        if (full) _ = FlushAsync(projectId);
    }

    /// <summary>One-shot, armed only while something is buffered: an idle silo has no timer firing every second
    /// (and a test clock moved by a day does not run 86,400 empty flushes).</summary>
    private void ArmLocked()
    {
        if (_armed) return;
        _armed = true;
        _timer?.Dispose();
        _timer = time.CreateTimer(_ =>
        {
            lock (_gate) { _armed = false; }
            _ = FlushAllAsync();
        }, null, FlushInterval, Timeout.InfiniteTimeSpan);
    }

    /// <summary>How many emails wait in this silo's buffer for <paramref name="projectId"/>.</summary>
    public int Buffered(string projectId)
    {
        lock (_gate) { return _buffers.TryGetValue(projectId, out var b) ? b.Count : 0; }
    }

    /// <summary>Hands the project's buffered emails to its scheduler now (and waits for any flush already running).</summary>
    public async Task FlushAsync(string projectId)
    {
        Task flush;
        lock (_gate)
        {
            var previous = _flushes.GetValueOrDefault(projectId) ?? Task.CompletedTask;
            flush = FlushAfterAsync(previous, projectId);
            _flushes[projectId] = flush;
        }
        await flush;
    }

    private async Task FlushAfterAsync(Task previous, string projectId)
    {
        // Flushes of one project run one after the other, so a batch is never overtaken by a later one.
        try { await previous; } catch { /* logged by its own flush */ }
        List<string> emails;
        lock (_gate)
        {
            if (!_buffers.Remove(projectId, out var buffer) || buffer.Count == 0) return;
            emails = [.. buffer];
        }
        try
        {
            for (var i = 0; i < emails.Count; i += FlushThreshold)
                await grains.GetGrain<ISyncSchedulerGrain>(GrainKeys.SyncScheduler(projectId))
                    .AddEmailsAsync(emails.GetRange(i, Math.Min(FlushThreshold, emails.Count - i)));
        }
        catch (Exception ex)
        {
            // Put them back: the next flush tries again.
            LogFlushFailed(ex, projectId, emails.Count);
            lock (_gate)
            {
                if (!_buffers.TryGetValue(projectId, out var buffer)) _buffers[projectId] = buffer = new HashSet<string>(StringComparer.Ordinal);
                buffer.UnionWith(emails);
                ArmLocked();
            }
        }
    }

    private async Task FlushAllAsync()
    {
        string[] projects;
        lock (_gate) { projects = [.. _buffers.Keys]; }
        foreach (var project in projects) await FlushAsync(project);
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await FlushAllAsync().WaitAsync(cancellationToken);
        }
        catch (Exception ex)
        {
            LogStopFlushFailed(ex);
        }
    }

    public void Dispose() => _timer?.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project {ProjectId}: handing {Count} emails to the periodic sync failed; kept for the next flush")]
    private partial void LogFlushFailed(Exception ex, string projectId, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Flushing identify emails at shutdown failed")]
    private partial void LogStopFlushFailed(Exception ex);
}
