using System.Collections.Concurrent;
using KarteMarketo.Marketo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KarteMarketo.UnitTests.Marketo;

public sealed class MarketoClientRegistrationTests
{
    [Fact]
    public async Task AddMarketoClient_binds_options_resolves_the_typed_client_and_logs_no_secrets()
    {
        var logs = new CapturingLoggerProvider();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Marketo:Client:MaxRetries"] = "1",
            ["Marketo:Client:RetryBaseDelay"] = "00:00:00",
            ["Marketo:Client:LookupTimeout"] = "00:00:45",
        }).Build();
        var stub = new StubMarketoHandler((_, _) => Task.FromResult(StubMarketoHandler.Json(
            """{"requestId":"r","success":false,"errors":[{"code":"608","message":"API Temporarily Unavailable"}]}""")));
        var services = new ServiceCollection();
        services.AddLogging(l => l.SetMinimumLevel(LogLevel.Trace).AddProvider(logs));
        services.AddSingleton<IConfiguration>(configuration);
        // The outbound guard reads the environment (private addresses are allowed only where configured).
        services.AddSingleton<Microsoft.Extensions.Hosting.IHostEnvironment>(new Microsoft.Extensions.Hosting.Internal.HostingEnvironment { EnvironmentName = "Production" });
        services.AddMarketoClient(configuration);
        services.AddOptions<KarteMarketo.Grains.Marketo.MarketoRetryOptions>().BindConfiguration(MarketoClientOptions.SectionName);
        services.AddHttpClient<IMarketoClient, MarketoClient>().ConfigurePrimaryHttpMessageHandler(() => stub);
        await using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<MarketoClientOptions>>().Value;
        var retries = provider.GetRequiredService<IOptions<KarteMarketo.Grains.Marketo.MarketoRetryOptions>>().Value;
        var client = provider.GetRequiredService<MarketoClientFactory>().Create();
        var result = await client.GetDailyUsageAsync(StubClients.Connection);
        await client.CheckCredentialsAsync(StubClients.Connection with { ClientSecret = "other-secret" });

        // The retry keys kept their section when the retries moved to the gateway.
        Assert.Equal((1, TimeSpan.Zero, TimeSpan.FromSeconds(45)), (retries.MaxRetries, retries.RetryBaseDelay, options.LookupTimeout));
        Assert.IsType<MarketoClient>(client);
        Assert.Equal(MarketoResultKind.Transient, result.Kind);
        // One attempt: the client does not retry.
        Assert.Equal(1, stub.Requests.Count(r => r.Uri.AbsolutePath.EndsWith("usage.json")));
        Assert.Equal(2, stub.Requests.Count(r => r.Uri.AbsolutePath.EndsWith("/oauth/token")));
        Assert.NotEmpty(logs.Messages);
        Assert.DoesNotContain(logs.Messages, m => m.Contains("secret-1") || m.Contains("other-secret") || m.Contains("cdf01657-110d-4155"));
    }

    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> _messages = new();
        public IReadOnlyCollection<string> Messages => _messages;
        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _messages);
        public void Dispose() { }

        private sealed class Logger(string category, ConcurrentQueue<string> messages) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => true;
            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                messages.Enqueue($"{category}: {formatter(state, exception)} {exception}");
        }
    }
}
