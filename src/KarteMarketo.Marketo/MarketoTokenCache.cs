using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KarteMarketo.Marketo;

/// <summary>
/// Access tokens per custom service (identity URL + client id, as Adobe advises), shared by every
/// <see cref="MarketoClient"/> in the process (singleton). Marketo hands out the same token while it is valid, so the
/// cache renews shortly before <c>expires_in</c> runs out and otherwise reuses what it has. Tokens are never logged.
/// </summary>
public sealed class MarketoTokenCache(TimeProvider timeProvider, IOptionsMonitor<MarketoClientOptions> options, ILogger<MarketoTokenCache> logger)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    // forceRequest: ask the identity endpoint even if a token is cached (checking saved credentials: a cached token
    // proves nothing about a secret that was changed since).
    internal async Task<TokenOutcome> GetAsync(HttpClient http, MarketoConnection connection, string? rejectedToken,
        CancellationToken cancellationToken, bool forceRequest = false)
    {
        var entry = _entries.GetOrAdd(Key(connection), _ => new Entry());
        if (!forceRequest && entry.Usable(timeProvider.GetUtcNow(), rejectedToken) is { } cached)
        {
            return TokenOutcome.Ok(cached);
        }

        await entry.Gate.WaitAsync(cancellationToken);
        try
        {
            // Another caller may have renewed it while we waited.
            if (!forceRequest && entry.Usable(timeProvider.GetUtcNow(), rejectedToken) is { } renewed)
            {
                return TokenOutcome.Ok(renewed);
            }
            var outcome = await RequestAsync(http, connection, cancellationToken);
            if (outcome.Token is { } token)
            {
                var now = timeProvider.GetUtcNow();
                var expiresAt = now.AddSeconds(outcome.ExpiresInSeconds);
                var renewAt = expiresAt - options.CurrentValue.TokenRenewBefore;
                // Marketo re-issues the same token while it is valid, so asking early can bring back the token we had with
                // little time left. Then use it almost to the end (a call racing the expiry gets 602 and re-authenticates).
                if (renewAt <= now)
                {
                    renewAt = expiresAt - TimeSpan.FromSeconds(Math.Min(1, outcome.ExpiresInSeconds / 2.0));
                }
                entry.Set(token, renewAt);
            }
            return outcome;
        }
        finally
        {
            entry.Gate.Release();
        }
    }

    /// <summary>Drops <paramref name="token"/> after Marketo refused it (601/602), unless it was already replaced.</summary>
    internal void Invalidate(MarketoConnection connection, string token)
    {
        if (_entries.TryGetValue(Key(connection), out var entry))
        {
            entry.Clear(token);
        }
    }

    private async Task<TokenOutcome> RequestAsync(HttpClient http, MarketoConnection connection, CancellationToken cancellationToken)
    {
        // GET with query parameters, as the identity spec declares them (swagger-identity.json). The URI holds the
        // secret, so nothing here logs it: the HttpClient's default loggers are removed at registration.
        var uri = new Uri(MarketoClient.Join(connection.IdentityEndpoint, "/oauth/token") +
                          "?grant_type=client_credentials&client_id=" + Uri.EscapeDataString(connection.ClientId) +
                          "&client_secret=" + Uri.EscapeDataString(connection.ClientSecret));
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        request.Options.Set(MarketoClient.EndpointOption, "identity");
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException exception)
        {
            // The exception's own text names the remote address; callers get a description without it.
            var reason = Outbound.OutboundErrors.Describe(exception);
            logger.LogWarning("Marketo identity call for client {ClientId} failed: {Reason}", connection.ClientId, reason);
            return TokenOutcome.Fail(MarketoResultKind.Transient, "identity", reason, reached: false);
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.BadRequest or HttpStatusCode.Forbidden)
            {
                var description = TryParse(text) is { } error ? MarketoJson.String(error["error_description"]) ?? MarketoJson.String(error["error"]) : null;
                logger.LogWarning("Marketo identity refused client {ClientId}: HTTP {Status} {Description}", connection.ClientId,
                    (int)response.StatusCode, description);
                return TokenOutcome.Fail(MarketoResultKind.AuthenticationFailed, ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    description ?? "Identity refused the credentials", reached: true);
            }
            if (!response.IsSuccessStatusCode || TryParse(text) is not { } body ||
                MarketoJson.String(body["access_token"]) is not { Length: > 0 } token)
            {
                return TokenOutcome.Fail(MarketoResultKind.Transient, ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    "Identity answered without a token", reached: true);
            }
            var expiresIn = MarketoJson.Long(body["expires_in"]) ?? 0;
            return new TokenOutcome(token, Math.Max(0, expiresIn), MarketoResultKind.Success, null);
        }
    }

    private static JsonObject? TryParse(string text)
    {
        try
        {
            return JsonNode.Parse(text) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Key(MarketoConnection connection) => connection.IdentityEndpoint.AbsoluteUri.TrimEnd('/') + "|" + connection.ClientId;

    private sealed class Entry
    {
        private readonly Lock _gate = new();
        private string? _token;
        private DateTimeOffset _renewAt;

        public SemaphoreSlim Gate { get; } = new(1, 1);

        public string? Usable(DateTimeOffset now, string? rejected)
        {
            lock (_gate)
            {
                return _token is not null && now < _renewAt && _token != rejected ? _token : null;
            }
        }

        public void Set(string token, DateTimeOffset renewAt)
        {
            lock (_gate)
            {
                _token = token;
                _renewAt = renewAt;
            }
        }

        public void Clear(string token)
        {
            lock (_gate)
            {
                if (_token == token)
                {
                    _token = null;
                }
            }
        }
    }
}

/// <summary>A token, or why none was had. <see cref="Error"/> carries the HTTP status or "identity" as its code.</summary>
internal sealed record TokenOutcome(string? Token, long ExpiresInSeconds, MarketoResultKind Kind, MarketoError? Error)
{
    public bool ReachedIdentity { get; init; } = true;
    public static TokenOutcome Ok(string token) => new(token, 0, MarketoResultKind.Success, null);
    public static TokenOutcome Fail(MarketoResultKind kind, string code, string message, bool reached) =>
        new(null, 0, kind, new MarketoError(code, message)) { ReachedIdentity = reached };
}
