using KarteMarketo.Marketo;
using KarteMarketo.MarketoSandbox;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace KarteMarketo.FunctionalTests.Marketo;

/// <summary>A real <see cref="MarketoClient"/> over real HTTP to a <see cref="SandboxServer"/>, with tiny retry delays.</summary>
internal sealed class MarketoTestClient : IDisposable
{
    private readonly HttpClient _http;

    public MarketoTestClient(SandboxServer sandbox, TimeProvider? time = null, Action<MarketoClientOptions>? configure = null,
        string? clientSecret = null)
    {
        Options = new MarketoClientOptions
        {
            RetryBaseDelay = TimeSpan.FromMilliseconds(1),
            RetryMaxDelay = TimeSpan.FromMilliseconds(5),
        };
        configure?.Invoke(Options);
        var clock = time ?? TimeProvider.System;
        Tokens = new MarketoTokenCache(clock, new FixedOptionsMonitor<MarketoClientOptions>(Options), NullLogger<MarketoTokenCache>.Instance);
        _http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        Client = new MarketoClient(_http, Tokens, Microsoft.Extensions.Options.Options.Create(Options), clock);
        Connection = new MarketoConnection(sandbox.ClientId, clientSecret ?? sandbox.ClientSecret, sandbox.RestEndpoint, sandbox.IdentityEndpoint);
    }

    public MarketoClientOptions Options { get; }
    public MarketoTokenCache Tokens { get; }
    public MarketoClient Client { get; }
    public MarketoConnection Connection { get; }

    public void Dispose() => _http.Dispose();
}

internal sealed class FixedOptionsMonitor<T>(T value) : IOptionsMonitor<T>
{
    public T CurrentValue => value;
    public T Get(string? name) => value;
    public IDisposable? OnChange(Action<T, string?> listener) => null;
}
