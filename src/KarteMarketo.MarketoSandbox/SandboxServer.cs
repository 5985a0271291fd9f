using System.Net;
using KarteMarketo.MarketoSandbox.Karte;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace KarteMarketo.MarketoSandbox;

/// <summary>
/// An in-process Marketo sandbox for tests: Kestrel on 127.0.0.1 with a free port, real HTTP.
/// <code>
/// await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { DailyQuota = 10 }, fakeTime);
/// var leadId = sandbox.State.SeedLead("a@example.com", ("firstName", "Ann"));
/// var connection = new MarketoConnection(sandbox.ClientId, sandbox.ClientSecret, sandbox.RestEndpoint, sandbox.IdentityEndpoint);
/// … Assert.Empty(sandbox.Counters.Breaches);
/// </code>
/// </summary>
public sealed class SandboxServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private SandboxServer(WebApplication app, SandboxState state, Karte.KarteStandIn karte, Uri baseAddress)
    {
        _app = app;
        State = state;
        Karte = karte;
        BaseAddress = baseAddress;
    }

    /// <summary>The KARTE stand-in's root (<c>…/karte</c>): a project's <c>karte.endpoint</c>.</summary>
    public Uri KarteEndpoint => new(BaseAddress, "karte");

    /// <summary>The KARTE stand-in: what it received, faults, the most requests per second it saw.</summary>
    public Karte.KarteStandIn Karte { get; }

    /// <summary>Root of the sandbox, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseAddress { get; }

    /// <summary>The REST base URL (ends in <c>/rest</c>), as Marketo shows it under Admin &gt; Web Services.</summary>
    public Uri RestEndpoint => new(BaseAddress, "rest");

    /// <summary>The identity URL (ends in <c>/identity</c>).</summary>
    public Uri IdentityEndpoint => new(BaseAddress, "identity");

    /// <summary>The control endpoints' root (<c>…/_sandbox/</c>), for tests that want to drive the sandbox over HTTP.</summary>
    public Uri ControlEndpoint => new(BaseAddress, "_sandbox/");

    /// <summary>A valid client id.</summary>
    public string ClientId => State.Options.ClientId;

    /// <summary>The matching client secret.</summary>
    public string ClientSecret => State.Options.ClientSecret;

    /// <summary>The instance: seed leads, fields, activity types, quota, faults, tokens.</summary>
    public SandboxState State { get; }

    /// <summary>What the sandbox saw (same as <c>State.Counters</c>).</summary>
    public SandboxCounters Counters => State.Counters;

    /// <summary>Starts a sandbox on a free loopback port. <paramref name="timeProvider"/> drives tokens, limits, the quota
    /// day and latency faults (use a FakeTimeProvider to move time); null means the system clock.</summary>
    public static async Task<SandboxServer> StartAsync(SandboxOptions? options = null, TimeProvider? timeProvider = null,
        CancellationToken cancellationToken = default)
    {
        var state = new SandboxState(options, timeProvider);
        var karte = new Karte.KarteStandIn(null, timeProvider);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = "Sandbox" });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 0);
            // Let long request lines through Kestrel so that the sandbox itself answers 414 at Marketo's 8 KB and records it.
            kestrel.Limits.MaxRequestLineSize = 64 * 1024;
            kestrel.Limits.MaxRequestBufferSize = 1024 * 1024;
        });
        builder.Services.AddSingleton(state);
        builder.Services.AddSingleton(karte);
        builder.Services.AddMarketoSandbox();
        var app = builder.Build();
        app.MapMarketoSandbox();
        app.MapKarteStandIn("/karte");
        await app.StartAsync(cancellationToken);

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new SandboxServer(app, state, karte, new Uri(address.TrimEnd('/') + "/"));
    }

    /// <summary>Stops Kestrel; calls still held by a hang fault are aborted.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
