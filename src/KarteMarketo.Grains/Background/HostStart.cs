using Microsoft.Extensions.Hosting;

namespace KarteMarketo.Grains.Background;

/// <summary>Waits for the host to report started: grain calls need the silo, which is up by then.</summary>
internal static class HostStart
{
    /// <summary>True once the host has started; false when <paramref name="stoppingToken"/> ends the wait first.</summary>
    public static async Task<bool> WaitAsync(IHostApplicationLifetime lifetime, CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        using (stoppingToken.Register(() => started.TrySetCanceled(stoppingToken)))
        {
            try
            {
                await started.Task;
                return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }
    }
}
