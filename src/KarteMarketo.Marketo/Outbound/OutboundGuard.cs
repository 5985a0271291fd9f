using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace KarteMarketo.Marketo.Outbound;

/// <summary>
/// The one way an <see cref="HttpClient"/> that calls a project-configured URL is built (API.md, "A hardened host",
/// outbound calls): no redirects followed, no proxy, addresses checked after DNS on every new connection (so a name
/// that later resolves elsewhere is still checked), and bodies buffered up to a limit.
/// </summary>
public static class OutboundGuard
{
    /// <summary>
    /// Applies the guard to an <see cref="IHttpClientFactory"/> registration:
    /// <c>services.AddHttpClient&lt;IX, X&gt;().AddOutboundGuard()</c>. Options come from <c>Outbound</c>
    /// (<see cref="OutboundOptions"/>); <c>AllowPrivateAddresses</c> defaults to true in Development only.
    /// </summary>
    public static IHttpClientBuilder AddOutboundGuard(this IHttpClientBuilder builder)
    {
        builder.Services.AddOutboundOptions();
        builder.ConfigurePrimaryHttpMessageHandler(services => CreateHandler(services.GetRequiredService<IOptions<OutboundOptions>>().Value));
        builder.AddHttpMessageHandler(services => new ResponseLimitHandler(services.GetRequiredService<IOptions<OutboundOptions>>().Value.MaxResponseBytes));
        return builder;
    }

    /// <summary>Registers <see cref="OutboundOptions"/> from configuration once (idempotent).</summary>
    public static IServiceCollection AddOutboundOptions(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(OutboundOptionsMarker))) return services;
        services.TryAddSingleton<OutboundOptionsMarker>();
        // Both are looked up, not required: a bare service collection (a unit test, a tool) gets the strict defaults.
        services.AddOptions<OutboundOptions>().Configure<IServiceProvider>((options, provider) =>
        {
            options.AllowPrivateAddresses = provider.GetService<IHostEnvironment>()?.IsDevelopment() == true;
            provider.GetService<IConfiguration>()?.GetSection(OutboundOptions.SectionName).Bind(options);
        });
        return services;
    }

    /// <summary>The primary handler: redirects off, proxy off, the address check in the connect step.</summary>
    public static SocketsHttpHandler CreateHandler(OutboundOptions options) => new()
    {
        AllowAutoRedirect = false,
        // A proxy would be the only address checked; the remote's own address is what must be public.
        UseProxy = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectCallback = (context, cancellationToken) => ConnectAsync(context, options.AllowPrivateAddresses, cancellationToken),
    };

    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, bool allowPrivate, CancellationToken cancellationToken)
    {
        var endpoint = context.DnsEndPoint;
        var addresses = IPAddress.TryParse(endpoint.Host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(endpoint.Host, cancellationToken);
        var allowed = allowPrivate ? addresses : addresses.Where(OutboundAddresses.IsPublic).ToArray();
        if (allowed.Length == 0) throw new OutboundAddressRefusedException();

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            // Connect only to the addresses just checked, never to the name (which could resolve again, differently).
            await socket.ConnectAsync(allowed, endpoint.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Marks that <see cref="AddOutboundOptions"/> ran.</summary>
    private sealed class OutboundOptionsMarker;
}

/// <summary>Reads each response body up to the limit, so an oversized one fails the send itself as an
/// <see cref="HttpRequestException"/>, where callers already handle failed calls.</summary>
internal sealed class ResponseLimitHandler(long maxBytes) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        try
        {
            if (response.Content.Headers.ContentLength > maxBytes) throw new OutboundResponseTooLargeException(maxBytes);
            var body = await ReadLimitedAsync(response.Content, cancellationToken);
            var buffered = new ByteArrayContent(body);
            foreach (var header in response.Content.Headers) buffered.Headers.TryAddWithoutValidation(header.Key, header.Value);
            response.Content.Dispose();
            response.Content = buffered;
            return response;
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    private async Task<byte[]> ReadLimitedAsync(HttpContent content, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > maxBytes) throw new OutboundResponseTooLargeException(maxBytes);
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }
}
