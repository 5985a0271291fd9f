using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Background;

/// <summary>
/// Which silo this process is, as written into the rows it holds (<c>holder</c> columns, <c>db/migrations/0160</c>):
/// the silo address with its generation, so a host restarted on the same port is a different holder. Null outside a
/// silo (store tests), where rows are written without a holder and only the time-based scans find them.
/// </summary>
public sealed class SiloHolder(string? id)
{
    public string? Id { get; } = id;

    /// <summary>How a silo is named in <c>holder</c> columns.</summary>
    public static string NameOf(SiloAddress silo) => silo.ToParsableString();

    internal static SiloHolder FromServices(IServiceProvider services) =>
        new(services.GetService<ILocalSiloDetails>()?.SiloAddress is { } silo ? NameOf(silo) : null);
}

/// <summary>Something a silo holds that another must take over when it dies (pending lookups, outbox claims).</summary>
public interface IDeadSiloTakeover
{
    /// <summary>Takes over what the <paramref name="deadHolders"/> held and wakes its owners; returns how many rows.
    /// Each row goes to exactly one survivor (one atomic update per row), so concurrent callers share the work.
    /// Throws when the store cannot be reached (the caller tries again).</summary>
    Task<int> TakeOverAsync(IReadOnlyCollection<string> deadHolders, CancellationToken cancellationToken);
}

/// <summary>
/// Recovery driven by the cluster's own knowledge: every silo follows the membership (<see cref="IClusterMembershipService"/>)
/// and, the moment a silo is declared dead, takes over what it held (<see cref="IDeadSiloTakeover"/>) instead of waiting
/// for the time-based scans, which stay as the second net. Dead is final in Orleans (a restarted host is a new
/// generation), so a row held by a dead silo is never live. Silos already dead in the first view this silo gets (they
/// died while it was down) are taken over too.
/// </summary>
public sealed partial class SiloDeathWatch(
    IClusterMembershipService membership,
    IEnumerable<IDeadSiloTakeover> takeovers,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<SiloDeathWatch> logger) : BackgroundService
{
    /// <summary>Pause before trying a failed takeover again (the database may be down for a moment).</summary>
    internal static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(2);

    private readonly HashSet<SiloAddress> _handled = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!await HostStart.WaitAsync(lifetime, stoppingToken)) return;

        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stoppingToken))
            {
                var dead = snapshot.Members.Values
                    .Where(m => m.Status == SiloStatus.Dead && !_handled.Contains(m.SiloAddress))
                    .Select(m => m.SiloAddress)
                    .ToList();
                if (dead.Count == 0) continue;
                _handled.UnionWith(dead);
                // Not awaited in the loop: a slow takeover must not hold back the next membership change.
                _ = TakeOverAsync([.. dead.Select(SiloHolder.NameOf)], stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Runs every takeover for these dead silos, each until it succeeds (or the host stops).</summary>
    internal async Task TakeOverAsync(IReadOnlyCollection<string> deadHolders, CancellationToken stoppingToken)
    {
        LogDeclaredDead(string.Join(", ", deadHolders));
        await Task.WhenAll(takeovers.Select(async takeover =>
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    var rows = await takeover.TakeOverAsync(deadHolders, stoppingToken);
                    if (rows > 0) LogTookOver(rows, takeover.GetType().Name, string.Join(", ", deadHolders));
                    return;
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex)
                {
                    LogTakeoverFailed(ex, takeover.GetType().Name);
                }
                try
                {
                    await Task.Delay(RetryDelay, time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Membership declared {Silos} dead: taking over what they held")]
    private partial void LogDeclaredDead(string silos);

    [LoggerMessage(Level = LogLevel.Information, Message = "Took over {Rows} rows ({Takeover}) held by {Silos}")]
    private partial void LogTookOver(int rows, string takeover, string silos);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Taking over the rows of a dead silo failed ({Takeover}); trying again shortly")]
    private partial void LogTakeoverFailed(Exception ex, string takeover);
}

public static class SiloTakeoverServiceCollectionExtensions
{
    /// <summary>This silo's holder name and the membership watch that runs every registered <see cref="IDeadSiloTakeover"/>.</summary>
    public static IServiceCollection AddSiloTakeover(this IServiceCollection services)
    {
        services.AddSingleton(SiloHolder.FromServices);
        services.AddHostedService<SiloDeathWatch>();
        return services;
    }
}
