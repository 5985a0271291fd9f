using System.Collections.Concurrent;
using System.Globalization;
using System.Net;

namespace KarteMarketo.Server.FrontDoor;

/// <summary>
/// Limits failed authentications per client address (API.md, "A hardened host", abuse): past
/// <c>Auth:FailedPerMinute</c> (default 60) failures in a minute, every authenticated request from that address is
/// answered <c>429</c> with <c>Retry-After</c> until the minute is over, a correct key included, so guessing keys gains
/// nothing from the answers. The address is the connection's; behind a proxy the operator forwards the client's
/// (ASP.NET Core forwarded headers). Anything that checks a credential (API, dashboard, console sign-in) uses it.
/// </summary>
public sealed class FailedAuthLimiter(IConfiguration configuration, TimeProvider time)
{
    public const string ConfigurationKey = "Auth:FailedPerMinute";
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    /// <summary>Past this many tracked addresses, expired windows are swept out (memory stays bounded).</summary>
    private const int SweepAbove = 10_000;

    private readonly int _limit = Math.Max(1, configuration.GetValue(ConfigurationKey, 60));
    private readonly ConcurrentDictionary<string, Counter> _counters = new(StringComparer.Ordinal);

    /// <summary>How long until <paramref name="context"/>'s address may try again, or null when it may now.</summary>
    public TimeSpan? RetryAfter(HttpContext context)
    {
        if (!_counters.TryGetValue(AddressOf(context), out var counter)) return null;
        var now = time.GetUtcNow();
        lock (counter)
        {
            if (now >= counter.WindowEnd || counter.Failures < _limit) return null;
            return counter.WindowEnd - now;
        }
    }

    /// <summary>Counts one failed authentication from <paramref name="context"/>'s address.</summary>
    public void RecordFailure(HttpContext context)
    {
        var now = time.GetUtcNow();
        if (_counters.Count > SweepAbove)
        {
            foreach (var (address, old) in _counters)
            {
                if (old.WindowEnd <= now) _counters.TryRemove(address, out _);
            }
        }
        var counter = _counters.GetOrAdd(AddressOf(context), _ => new Counter());
        lock (counter)
        {
            if (now >= counter.WindowEnd)
            {
                counter.WindowEnd = now + Window;
                counter.Failures = 0;
            }
            counter.Failures++;
        }
    }

    /// <summary>Answers 429 problem+json with <c>Retry-After</c> (whole seconds, at least 1).</summary>
    public static Task RejectAsync(HttpContext context, TimeSpan retryAfter)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return Problems.Problem(StatusCodes.Status429TooManyRequests, "Too many requests",
            $"Too many failed authentications from this address; try again in {seconds} s.").ExecuteAsync(context);
    }

    private static string AddressOf(HttpContext context) =>
        context.Connection.RemoteIpAddress is { } ip ? (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString() : "unknown";

    private sealed class Counter
    {
        public DateTimeOffset WindowEnd;
        public int Failures;
    }
}
