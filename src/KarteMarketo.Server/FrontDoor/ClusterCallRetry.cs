using Orleans.Runtime;
using Orleans.Runtime.Messaging;

namespace KarteMarketo.Server.FrontDoor;

/// <summary>
/// How long a front-door grain call may keep trying while its target silo cannot be reached
/// (<c>FrontDoor:ClusterRetry:*</c>).
/// </summary>
public sealed class ClusterRetryOptions
{
    /// <summary>A request's budget, from its arrival: grain calls rejected because their target silo is gone are
    /// tried again until then. It must cover the time the cluster takes to declare a killed silo dead (about 3–6 s with
    /// the membership settings of <see cref="Hosting.OrleansSetup"/>), after which the grain activates on a live silo.</summary>
    public TimeSpan Deadline { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The first pause between two tries; it doubles up to <see cref="MaxDelay"/>.</summary>
    public TimeSpan FirstDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The longest pause between two tries.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromMilliseconds(500);
}

/// <summary>
/// Calls to the service's grains that fail because their target silo cannot be reached are tried again with a short
/// back-off until a deadline (<see cref="ClusterRetryOptions.Deadline"/>): for calls made outside any grain (the front
/// door's endpoints and middleware, the per-silo scans) the deadline of the HTTP request, counted from its arrival; for
/// calls made by a grain (a batcher handing a result to its key, a dispatcher asking the quota grain for a permit) the
/// same span from the call. Between a host's death and the cluster declaring it dead,
/// calls to activations that lived on it are rejected (<see cref="OrleansMessageRejectionException"/>,
/// <see cref="ConnectionFailedException"/>); once it is declared dead, calls still waiting for it fail with
/// <see cref="SiloUnavailableException"/> and the next try activates the grain on a live silo. So a request that a
/// live host accepted does not fail because another host died.
/// <para>
/// Why a retry is safe: a rejected call never ran. A call that failed with <see cref="SiloUnavailableException"/> may
/// have run on the dead silo, so a call made again must be harmless twice, which the service's grain calls are:
/// identify and link, wake a dispatcher, reads, whole-document settings writes, handing a lookup result to its key,
/// and quota permits (a permit granted by a dead activation is never given back, which over-counts and never
/// under-counts). Without this, a flow whose call hit the dead silo would wait for its slow durable retry (the periodic
/// sync, the outbox scan), tens of seconds later.
/// </para>
/// Registered once for the whole silo (<see cref="Hosting.OrleansSetup"/>), so no endpoint has to do anything.
/// </summary>
internal sealed partial class ClusterCallRetry(
    Microsoft.Extensions.Options.IOptions<ClusterRetryOptions> options,
    TimeProvider time,
    ILogger<ClusterCallRetry> logger) : IOutgoingGrainCallFilter
{
    private static readonly AsyncLocal<RequestScope?> Current = new();

    /// <summary>The namespace of the service's grain interfaces (KarteMarketo.Contracts).</summary>
    private const string AppInterfacePrefix = "KarteMarketo.";

    /// <summary>The deadline and cancellation of the HTTP request being served, if any.</summary>
    internal sealed record RequestScope(long StartedAt, CancellationToken Aborted);

    /// <summary>Sets the scope of a request (from its first middleware); grain calls it makes share its deadline.</summary>
    internal static void Enter(long startedAt, CancellationToken aborted) => Current.Value = new RequestScope(startedAt, aborted);

    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        // Only calls to the service's own grains: Orleans' system calls (directory, membership, reminders) target a fixed
        // silo and have their own retries; trying them again here would only hold the outer call until the deadline.
        if (!context.InterfaceName.StartsWith(AppInterfacePrefix, StringComparison.Ordinal))
        {
            await context.Invoke();
            return;
        }

        // A grain's call has no request around it (the request's scope does not cross into grain turns): its deadline
        // runs from the call itself.
        var scope = context.SourceContext is null ? Current.Value : null;
        var started = scope?.StartedAt ?? time.GetTimestamp();
        var cancellation = scope?.Aborted ?? CancellationToken.None;
        var settings = options.Value;
        var delay = settings.FirstDelay;
        var triedAfterDeath = false;
        for (var attempt = 1; ; attempt++)
        {
            Exception? failure;
            try
            {
                await context.Invoke();
                failure = context.Response?.Exception;
            }
            catch (Exception ex)
            {
                failure = ex;
            }
            if (failure is null || !IsUnreachable(failure))
            {
                if (failure is not null && attempt > 1) LogGaveUp(failure.GetType().Name, context.InterfaceName, context.MethodName, attempt);
                ThrowIfThrown(failure, context);
                return;
            }

            var left = settings.Deadline - time.GetElapsedTime(started);
            // A call that waited for a silo until it was declared dead gets one more try even past the deadline: that is
            // the moment the grain can activate elsewhere, and the wait was the cluster's, not the request's.
            if (left <= TimeSpan.Zero && !triedAfterDeath && IsDeclaredDead(failure))
            {
                triedAfterDeath = true;
                left = settings.FirstDelay;
            }
            if (left <= TimeSpan.Zero || cancellation.IsCancellationRequested)
            {
                LogGaveUp(failure.GetType().Name, context.InterfaceName, context.MethodName, attempt);
                ThrowIfThrown(failure, context);
                return;
            }
            if (attempt == 1) LogRetrying(failure.GetType().Name, context.InterfaceName, context.MethodName, failure.Message);
            // A little jitter, so the calls of a fan-out do not all come back at the same instant.
            var pause = delay + TimeSpan.FromMilliseconds(Random.Shared.Next(0, (int)Math.Max(1, delay.TotalMilliseconds / 2)));
            await Task.Delay(pause < left ? pause : left, time, cancellation).ConfigureAwait(false);
            delay = delay * 2 < settings.MaxDelay ? delay * 2 : settings.MaxDelay;
        }
    }

    /// <summary>A failure surfaced as an exception is thrown again; one carried by the response stays there (the caller
    /// reads it from the response).</summary>
    private static void ThrowIfThrown(Exception? failure, IOutgoingGrainCallContext context)
    {
        if (failure is not null && !ReferenceEquals(failure, context.Response?.Exception))
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    /// <summary>The target silo cannot be reached (or was declared dead while the call waited): the cluster, not the
    /// request, is at fault, and the grain will soon answer from another silo.</summary>
    internal static bool IsUnreachable(Exception exception)
    {
        for (var ex = exception; ex is not null; ex = ex.InnerException)
        {
            if (ex is OrleansMessageRejectionException or ConnectionFailedException or SiloUnavailableException) return true;
        }
        return false;
    }

    private static bool IsDeclaredDead(Exception exception)
    {
        for (var ex = exception; ex is not null; ex = ex.InnerException)
            if (ex is SiloUnavailableException) return true;
        return false;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Interface}.{Method} failed ({Exception}: {Detail}); trying again until the request's deadline")]
    private partial void LogRetrying(string exception, string @interface, string method, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Interface}.{Method} still failed ({Exception}) after {Attempts} tries")]
    private partial void LogGaveUp(string exception, string @interface, string method, int attempts);
}

/// <summary>Gives the grain calls of a request the request's start and cancellation (see <see cref="ClusterCallRetry"/>).</summary>
internal sealed class ClusterRetryScopeMiddleware(RequestDelegate next, TimeProvider time)
{
    // Async on purpose: the scope then ends with the request instead of leaking into the connection's next one.
    public async Task InvokeAsync(HttpContext context)
    {
        ClusterCallRetry.Enter(time.GetTimestamp(), context.RequestAborted);
        await next(context);
    }
}
