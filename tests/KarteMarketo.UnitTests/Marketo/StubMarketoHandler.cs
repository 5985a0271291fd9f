using System.Net;
using System.Text;
using KarteMarketo.Marketo;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace KarteMarketo.UnitTests.Marketo;

/// <summary>One request as the client sent it: method, absolute URI, headers and body text.</summary>
internal sealed record RecordedRequest(HttpMethod Method, Uri Uri, string? Authorization, string? ContentType, string Body);

/// <summary>
/// Records every request and answers from a function (no network): identity gets a token, everything else what the
/// test says (default: an empty success).
/// </summary>
internal sealed class StubMarketoHandler(Func<RecordedRequest, CancellationToken, Task<HttpResponseMessage>>? respond = null) : HttpMessageHandler
{
    private readonly Lock _gate = new();
    private readonly List<RecordedRequest> _requests = [];

    public IReadOnlyList<RecordedRequest> Requests { get { lock (_gate) { return [.. _requests]; } } }

    public static HttpResponseMessage Json(string json, HttpStatusCode status = HttpStatusCode.OK) =>
        new(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") };

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
        var recorded = new RecordedRequest(request.Method, request.RequestUri!, request.Headers.Authorization?.ToString(),
            request.Content?.Headers.ContentType?.MediaType, body);
        lock (_gate)
        {
            _requests.Add(recorded);
        }
        if (recorded.Uri.AbsolutePath.EndsWith("/oauth/token", StringComparison.Ordinal))
        {
            return Json("""{"access_token":"cdf01657-110d-4155-99a7-f986b2ff13a0:int","token_type":"bearer","expires_in":3599,"scope":"api@example.com"}""");
        }
        return respond is null
            ? Json("""{"requestId":"1#1","result":[],"success":true}""")
            : await respond(recorded, cancellationToken);
    }
}

internal static class StubClients
{
    public static readonly MarketoConnection Connection = new("client-1", "secret-1",
        new Uri("https://123-ABC-456.mktorest.com/rest"), new Uri("https://123-ABC-456.mktorest.com/identity"));

    public static MarketoClient Create(HttpMessageHandler handler, TimeProvider? time = null, Action<MarketoClientOptions>? configure = null)
    {
        var options = new MarketoClientOptions();
        configure?.Invoke(options);
        var clock = time ?? TimeProvider.System;
        var tokens = new MarketoTokenCache(clock, new FixedMonitor(options), NullLogger<MarketoTokenCache>.Instance);
        return new MarketoClient(new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan }, tokens, Options.Create(options), clock);
    }

    private sealed class FixedMonitor(MarketoClientOptions value) : IOptionsMonitor<MarketoClientOptions>
    {
        public MarketoClientOptions CurrentValue => value;
        public MarketoClientOptions Get(string? name) => value;
        public IDisposable? OnChange(Action<MarketoClientOptions, string?> listener) => null;
    }
}
