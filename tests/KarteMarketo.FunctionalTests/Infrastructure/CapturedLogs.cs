using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.FunctionalTests.Infrastructure;

/// <summary>
/// A logger provider that keeps everything the host logs: category, level, the formatted message, every structured
/// value, every scope, and the full exception text. For tests that prove something never reaches the logs.
/// Register it with <see cref="LogCapturingAppFactory"/>.
/// </summary>
public sealed class CapturedLogs : ILoggerProvider, ISupportExternalScope
{
    private readonly ConcurrentQueue<string> _entries = new();
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public IReadOnlyCollection<string> Entries => _entries;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    /// <summary>Entries that contain <paramref name="value"/> (ordinal).</summary>
    public IReadOnlyList<string> Containing(string value) => _entries.Where(e => e.Contains(value, StringComparison.Ordinal)).ToList();

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => owner._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
            var text = new StringBuilder();
            text.Append(logLevel).Append(' ').Append(category).Append(": ").Append(formatter(state, exception));
            if (state is IEnumerable<KeyValuePair<string, object?>> values)
            {
                foreach (var (key, value) in values) text.Append(" | ").Append(key).Append('=').Append(value);
            }
            owner._scopes.ForEachScope((scope, sb) =>
            {
                sb.Append(" | scope: ").Append(scope);
                if (scope is IEnumerable<KeyValuePair<string, object?>> scopeValues)
                {
                    foreach (var (key, value) in scopeValues) sb.Append(' ').Append(key).Append('=').Append(value);
                }
            }, text);
            if (exception is not null) text.Append(" | exception: ").Append(exception);
            owner._entries.Enqueue(text.ToString());
        }
    }
}

/// <summary>The whole server with <see cref="CapturedLogs"/> attached, logging at Debug (Trace for HttpClient, whose
/// trace lines carry headers).</summary>
public class LogCapturingAppFactory : KarteMarketoAppFactory
{
    public CapturedLogs Logs { get; } = new();

    public LogCapturingAppFactory()
    {
        Settings["Logging:LogLevel:Default"] = "Debug";
        Settings["Logging:LogLevel:Microsoft.AspNetCore"] = "Debug";
        Settings["Logging:LogLevel:Orleans"] = "Debug";
        Settings["Logging:LogLevel:System.Net.Http"] = "Trace";
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureServices(services => services.AddSingleton<ILoggerProvider>(Logs));
    }
}
