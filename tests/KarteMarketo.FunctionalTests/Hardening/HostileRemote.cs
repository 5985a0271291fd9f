using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.FunctionalTests.Hardening;

/// <summary>
/// A real HTTP server on the loopback that misbehaves as an outbound target could: <c>/redirect/…</c> answers 302 to
/// <c>/target/…</c> (which would hand out a token and counts its hits), <c>/big/…</c> answers a body over 16 MiB.
/// </summary>
internal sealed class HostileRemote : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _targetHits;

    private HostileRemote(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    /// <summary>Requests that reached <c>/target</c>: a followed redirect would land there.</summary>
    public int TargetHits => Volatile.Read(ref _targetHits);

    public static async Task<HostileRemote> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        HostileRemote? self = null;
        app.MapGet("/redirect/{**rest}", (string rest) => Results.Redirect("/target/" + rest));
        app.MapGet("/target/{**rest}", () =>
        {
            Interlocked.Increment(ref self!._targetHits);
            return Results.Json(new { access_token = "tok", token_type = "bearer", expires_in = 3600, scope = "x" });
        });
        app.MapGet("/big/{**rest}", async (HttpContext context) =>
        {
            context.Response.ContentType = "application/json";
            var chunk = new byte[64 * 1024];
            Array.Fill(chunk, (byte)' ');
            // 17 MiB of white space, streamed without a Content-Length: the cut-off must count, not trust a header.
            for (var i = 0; i < 17 * 16; i++) await context.Response.Body.WriteAsync(chunk);
        });
        await app.StartAsync();
        var address = app.Urls.First();
        self = new HostileRemote(app, new Uri(address.TrimEnd('/') + "/"));
        return self;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
