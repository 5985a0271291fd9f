using Microsoft.Extensions.Hosting;

namespace KarteMarketo.Grains.Background;

/// <summary>
/// A per-silo scan that finds work left behind (by a crash, a restart, or a silo that died) and wakes the grains that
/// own it: once when the host has started, then every <see cref="Interval"/> on the injected clock.
/// </summary>
public abstract class PeriodicSiloScan(IHostApplicationLifetime lifetime, TimeProvider time) : BackgroundService
{
    /// <summary>The clock every scan reads.</summary>
    protected TimeProvider Time => time;

    /// <summary>How long after one scan the next begins.</summary>
    protected abstract TimeSpan Interval { get; }

    /// <summary>Scans once and wakes what it found; returns how many. Must not throw (a failed scan waits for the next).</summary>
    public abstract Task<int> ScanOnceAsync(CancellationToken cancellationToken = default);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!await HostStart.WaitAsync(lifetime, stoppingToken)) return;

        while (!stoppingToken.IsCancellationRequested)
        {
            await ScanOnceAsync(stoppingToken);
            try
            {
                await Task.Delay(Interval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
