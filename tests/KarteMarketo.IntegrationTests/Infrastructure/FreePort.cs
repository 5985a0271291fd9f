using System.Net;
using System.Net.Sockets;

namespace KarteMarketo.IntegrationTests.Infrastructure;

public static class FreePort
{
    // Below Linux's ephemeral range (32768 and up): a port the OS hands out for port 0 can be taken again by an outgoing
    // connection before the host process binds it. The functional tests use 20000-31999.
    private const int RangeStart = 10_000, RangeSize = 10_000;
    private static int _next = RangeStart + Environment.ProcessId * 97 % RangeSize;

    /// <summary>A TCP port on the loopback that nothing listens on right now, from this assembly's own range, never
    /// the same twice per run (so a host restarted on its ports does not collide with a newer pick).</summary>
    public static int Next()
    {
        for (var attempt = 0; attempt < RangeSize; attempt++)
        {
            var port = RangeStart + Interlocked.Increment(ref _next) % RangeSize;
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // In use: try the next one.
            }
        }
        throw new InvalidOperationException("No free port in the integration tests' range.");
    }
}
