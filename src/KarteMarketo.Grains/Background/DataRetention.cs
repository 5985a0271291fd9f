using System.ComponentModel.DataAnnotations;
using KarteMarketo.Grains.Outbox;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KarteMarketo.Grains.Background;

/// <summary>How long finished data is kept (API.md, "A hardened host", Bounds), section <c>Retention</c>.</summary>
public sealed class RetentionOptions
{
    /// <summary>Webhook events received, and outbox rows (Marketo and KARTE) delivered, longer ago than this many days
    /// are deleted. At least 1.</summary>
    [Range(1, 36500)]
    public int Days { get; set; } = 30;

    /// <summary>How often each silo looks for expired rows.</summary>
    public TimeSpan ScanInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Rows deleted by one statement: short transactions that never hold many locks or a long WAL burst.</summary>
    [Range(1, 100_000)]
    public int ChunkSize { get; set; } = 1000;

    /// <summary>Chunks per kind of data in one scan; what is left waits for the next scan, so a first run on a large
    /// backlog spreads its deletes out instead of keeping the database busy for minutes.</summary>
    [Range(1, 100_000)]
    public int MaxChunksPerScan { get; set; } = 100;
}

/// <summary>What the retention job deletes; PostgreSQL or memory by mode. Every delete removes at most
/// <c>limit</c> rows and returns how many it removed.</summary>
public interface IRetentionStore
{
    /// <summary>Deletes webhook events received before <paramref name="before"/>, oldest first.</summary>
    Task<int> DeleteWebhookEventsAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default);

    /// <summary>Deletes delivered outbox rows of <paramref name="kind"/> delivered before <paramref name="before"/>.
    /// Rows in any other status (pending, in flight, failed, skipped) are never touched.</summary>
    Task<int> DeleteDeliveredAsync(OutboxKind kind, DateTimeOffset before, int limit, CancellationToken cancellationToken = default);
}

/// <summary>
/// Deletes data past <see cref="RetentionOptions.Days"/>: webhook events, delivered Marketo outbox rows (lead upserts,
/// custom activities) and delivered KARTE writes. Runs on every silo, once when the host has started and then every
/// <see cref="RetentionOptions.ScanInterval"/>, in chunks of <see cref="RetentionOptions.ChunkSize"/> rows; two silos
/// deleting at once skip each other's rows rather than wait for them.
/// </summary>
public sealed partial class DataRetention(
    IRetentionStore store,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    IOptions<RetentionOptions> options,
    ILogger<DataRetention> logger) : PeriodicSiloScan(lifetime, time)
{
    private static readonly OutboxKind[] DeliveredKinds = [OutboxKind.Leads, OutboxKind.Activities, OutboxKind.Karte];

    protected override TimeSpan Interval => options.Value.ScanInterval;

    /// <summary>Deletes what has expired (up to the per-scan bound); returns how many rows.</summary>
    public override async Task<int> ScanOnceAsync(CancellationToken cancellationToken = default)
    {
        var settings = options.Value;
        var before = Time.GetUtcNow() - TimeSpan.FromDays(settings.Days);
        var total = 0;
        // Each kind on its own: a failure in one (say, a lock timeout) does not keep the others from being cleaned.
        total += await DeleteInChunksAsync("webhook events", limit => store.DeleteWebhookEventsAsync(before, limit, cancellationToken), cancellationToken);
        foreach (var kind in DeliveredKinds)
        {
            total += await DeleteInChunksAsync($"delivered {kind.ToKeyword()} rows",
                limit => store.DeleteDeliveredAsync(kind, before, limit, cancellationToken), cancellationToken);
        }
        return total;
    }

    private async Task<int> DeleteInChunksAsync(string what, Func<int, Task<int>> deleteChunk, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var deleted = 0;
        try
        {
            for (var chunk = 0; chunk < settings.MaxChunksPerScan && !cancellationToken.IsCancellationRequested; chunk++)
            {
                var count = await deleteChunk(settings.ChunkSize);
                deleted += count;
                if (count < settings.ChunkSize) break;
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogDeleteFailed(ex, what);
        }
        if (deleted > 0) LogDeleted(deleted, what, settings.Days);
        return deleted;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention: deleted {Count} {What} older than {Days} days")]
    private partial void LogDeleted(int count, string what, int days);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Retention: deleting {What} failed; trying again at the next interval")]
    private partial void LogDeleteFailed(Exception ex, string what);
}

public static class DataRetentionServiceCollectionExtensions
{
    /// <summary>The retention job (section <c>Retention</c>, checked at start-up) and its store by mode.</summary>
    public static IServiceCollection AddDataRetention(this IServiceCollection services, Storage.AppStorageOptions storage)
    {
        services.AddOptions<RetentionOptions>().BindConfiguration("Retention").ValidateDataAnnotations()
            .Validate(o => o.ScanInterval > TimeSpan.Zero, "Retention:ScanInterval must be positive.").ValidateOnStart();
        if (storage.UsesPostgres) services.AddSingleton<IRetentionStore, Storage.PostgresRetentionStore>();
        else services.AddSingleton<IRetentionStore, InMemoryRetentionStore>();
        services.AddSingleton<DataRetention>();
        services.AddHostedService(sp => sp.GetRequiredService<DataRetention>());
        return services;
    }
}
