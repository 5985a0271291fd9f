using System.Net.Http;

namespace KarteMarketo.Marketo.Outbound;

/// <summary>The host name resolved only to addresses that outbound calls may not reach.</summary>
public sealed class OutboundAddressRefusedException()
    : HttpRequestException("the target resolves to a private, loopback or link-local address, which is not allowed");

/// <summary>The remote answered with a body larger than <see cref="OutboundOptions.MaxResponseBytes"/>.</summary>
public sealed class OutboundResponseTooLargeException(long limit)
    : HttpRequestException($"the response is larger than {limit / (1024 * 1024)} MiB and was cut off");

/// <summary>Error text for API callers: what went wrong, never the remote address (which may be internal).</summary>
public static class OutboundErrors
{
    /// <summary>A caller-safe description of a failed outbound call.</summary>
    public static string Describe(Exception exception)
    {
        for (var ex = exception; ex is not null; ex = ex.InnerException)
        {
            if (ex is OutboundAddressRefusedException or OutboundResponseTooLargeException) return ex.Message;
        }
        return exception is HttpRequestException http
            ? http.HttpRequestError switch
            {
                HttpRequestError.NameResolutionError => "the host name could not be resolved",
                HttpRequestError.ConnectionError => "the connection could not be made",
                HttpRequestError.SecureConnectionError => "the TLS handshake failed",
                HttpRequestError.ResponseEnded => "the connection closed before the response ended",
                HttpRequestError.InvalidResponse => "the response was not valid HTTP",
                HttpRequestError.ProxyTunnelError => "the proxy refused the connection",
                _ => "the request failed",
            }
            : "the request failed";
    }
}
