using KarteMarketo.Contracts.Quota;
using KarteMarketo.Grains.Marketo;
using KarteMarketo.Marketo;
using KarteMarketo.MarketoSandbox;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace KarteMarketo.FunctionalTests.Marketo;

/// <summary>A real <see cref="MarketoClient"/> over real HTTP to a <see cref="SandboxServer"/>; <see cref="CallWithRetriesAsync{T}"/>
/// runs it under the gateway's own retry loop (tiny delays, every permit granted).</summary>
internal sealed class MarketoTestClient : IDisposable
{
    private readonly HttpClient _http;

    public MarketoTestClient(SandboxServer sandbox, TimeProvider? time = null, Action<MarketoClientOptions>? configure = null,
        string? clientSecret = null, Action<MarketoRetryOptions>? retries = null)
    {
        Options = new MarketoClientOptions();
        configure?.Invoke(Options);
        Retries = new MarketoRetryOptions { RetryBaseDelay = TimeSpan.FromMilliseconds(1), RetryMaxDelay = TimeSpan.FromMilliseconds(5) };
        retries?.Invoke(Retries);
        var clock = time ?? TimeProvider.System;
        _loop = new MarketoCallLoop(Retries, clock, NullLogger.Instance);
        Tokens = new MarketoTokenCache(clock, new FixedOptionsMonitor<MarketoClientOptions>(Options), NullLogger<MarketoTokenCache>.Instance);
        _http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        Client = new MarketoClient(_http, Tokens, Microsoft.Extensions.Options.Options.Create(Options), clock);
        Connection = new MarketoConnection(sandbox.ClientId, clientSecret ?? sandbox.ClientSecret, sandbox.RestEndpoint, sandbox.IdentityEndpoint);
    }

    private readonly MarketoCallLoop _loop;

    public MarketoClientOptions Options { get; }
    public MarketoRetryOptions Retries { get; }
    public MarketoTokenCache Tokens { get; }
    public MarketoClient Client { get; }
    public MarketoConnection Connection { get; }

    /// <summary>The call as the gateway makes it: an attempt per permit, transient failures retried.</summary>
    public Task<MarketoCall<T>> CallWithRetriesAsync<T>(Func<IMarketoClient, MarketoConnection, CancellationToken, Task<MarketoResult<T>>> call) =>
        _loop.RunAsync(MarketoCallPurpose.Other, new GrantEveryPermit(), ct => call(Client, Connection, ct), CancellationToken.None);

    public void Dispose() => _http.Dispose();

    private sealed class GrantEveryPermit : IMarketoPermits
    {
        public Task<QuotaPermit> AcquireAsync(CancellationToken cancellationToken) => Task.FromResult(QuotaPermit.Grant(Guid.NewGuid()));
        public Task ReleaseAsync(Guid leaseId, MarketoCallOutcome outcome) => Task.CompletedTask;
    }
}

internal sealed class FixedOptionsMonitor<T>(T value) : IOptionsMonitor<T>
{
    public T CurrentValue => value;
    public T Get(string? name) => value;
    public IDisposable? OnChange(Action<T, string?> listener) => null;
}
