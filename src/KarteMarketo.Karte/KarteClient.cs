using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;

namespace KarteMarketo.Karte;

/// <summary>
/// The KARTE write client over a typed <see cref="HttpClient"/> (see <see cref="KarteServiceCollectionExtensions"/>).
/// Time-outs run on the injected <see cref="TimeProvider"/>, so tests on a fake clock decide when a hung call ends.
/// </summary>
public sealed class KarteClient(HttpClient http, IOptions<KarteClientOptions> options, TimeProvider time) : IKarteClient
{
    /// <summary>The name of the client's <see cref="HttpClient"/> registration, for hosts that add outbound guards.</summary>
    public const string HttpClientName = "karte";

    private KarteClientOptions Options => options.Value;

    public async Task<KarteWriteResult> WriteAsync(KarteConnection connection, KarteWriteRequest request,
        CancellationToken cancellationToken = default)
    {
        if (request.Events.Count == 0) throw new ArgumentException("a write needs at least one event", nameof(request));
        return await SendAsync(connection, BuildBody(request), cancellationToken);
    }

    public async Task<KarteTokenCheck> CheckTokenAsync(KarteConnection connection, CancellationToken cancellationToken = default)
    {
        // No keys and no event: KARTE cannot record anything from it, so only the token is tried.
        var result = await SendAsync(connection, new JsonObject(), cancellationToken);
        return result switch
        {
            { StatusCode: 400 } => new KarteTokenCheck(KarteTokenCheckOutcome.Accepted, "ok"),
            { Outcome: KarteWriteOutcome.Delivered } => new KarteTokenCheck(KarteTokenCheckOutcome.Accepted, "ok"),
            { Outcome: KarteWriteOutcome.Unauthorized } =>
                new KarteTokenCheck(KarteTokenCheckOutcome.Refused, $"KARTE refused the app token ({result.StatusCode})"),
            _ => new KarteTokenCheck(KarteTokenCheckOutcome.Unknown, result.Error ?? "KARTE gave no usable answer"),
        };
    }

    /// <summary>The body KARTE's write API takes: <c>event</c> for one event, <c>events</c> for several of the same user.</summary>
    public static JsonObject BuildBody(KarteWriteRequest request)
    {
        var body = new JsonObject { ["keys"] = new JsonObject { ["user_id"] = request.UserId } };
        JsonObject EventJson(KarteEvent e) => new() { ["event_name"] = e.EventName, ["values"] = e.Values.DeepClone() };
        if (request.Events.Count == 1) body["event"] = EventJson(request.Events[0]);
        else body["events"] = new JsonArray([.. request.Events.Select(e => (JsonNode)EventJson(e))]);
        return body;
    }

    private async Task<KarteWriteResult> SendAsync(KarteConnection connection, JsonObject body, CancellationToken cancellationToken)
    {
        var uri = new Uri(new Uri(connection.Endpoint.ToString().TrimEnd('/') + "/"), KarteClientOptions.WritePath);
        using var message = new HttpRequestMessage(HttpMethod.Post, uri)
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", connection.AppToken);

        using var timeout = new CancellationTokenSource(Options.Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        try
        {
            using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode) return new KarteWriteResult(KarteWriteOutcome.Delivered, status, null, null);
            var answer = await ReadStartAsync(response, linked.Token);
            var error = answer.Length == 0 ? $"KARTE answered {status}" : $"KARTE answered {status}: {answer}";
            return response.StatusCode switch
            {
                HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden =>
                    new KarteWriteResult(KarteWriteOutcome.Unauthorized, status, null, error),
                HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout =>
                    new KarteWriteResult(KarteWriteOutcome.Retry, status, RetryAfterOf(response), error),
                _ when status >= 500 => new KarteWriteResult(KarteWriteOutcome.Retry, status, RetryAfterOf(response), error),
                // Redirects are not followed (the handler has AllowAutoRedirect off): a moved endpoint is a settings error.
                _ when status is >= 300 and < 400 =>
                    new KarteWriteResult(KarteWriteOutcome.Failed, status, null, $"KARTE answered {status} (a redirect, not followed); check karte.endpoint"),
                _ => new KarteWriteResult(KarteWriteOutcome.Failed, status, null, error),
            };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new KarteWriteResult(KarteWriteOutcome.Retry, null, null,
                $"KARTE did not answer within {Options.Timeout.TotalSeconds:0.#} s");
        }
        catch (HttpRequestException ex) when (ex.GetType() != typeof(HttpRequestException))
        {
            // A host's outbound guard refused the call (a private address, an oversized answer): its own text carries
            // no address, and sending again would meet the same refusal.
            return new KarteWriteResult(KarteWriteOutcome.Failed, null, null, $"the call to KARTE was refused: {ex.Message}");
        }
        catch (HttpRequestException ex)
        {
            // The message may name the remote address; the error kind does not.
            return new KarteWriteResult(KarteWriteOutcome.Retry, null, null, $"KARTE could not be reached ({ex.HttpRequestError})");
        }
        catch (IOException)
        {
            return new KarteWriteResult(KarteWriteOutcome.Retry, null, null, "KARTE could not be reached (connection lost)");
        }
    }

    /// <summary><c>Retry-After</c> as seconds or as a date (RFC 9110).</summary>
    private TimeSpan? RetryAfterOf(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta) return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        if (header?.Date is { } date)
        {
            var wait = date - time.GetUtcNow();
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        }
        return null;
    }

    /// <summary>The start of KARTE's answer, printable, at most <see cref="KarteClientOptions.MaxErrorLength"/> characters.</summary>
    private async Task<string> ReadStartAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            var buffer = new byte[Math.Max(64, Options.MaxErrorLength * 4)];
            var read = 0;
            while (read < buffer.Length)
            {
                var n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken);
                if (n == 0) break;
                read += n;
            }
            var text = Encoding.UTF8.GetString(buffer, 0, read);
            var clean = new string(text.Select(c => char.IsControl(c) ? ' ' : c).Take(Options.MaxErrorLength).ToArray()).Trim();
            return clean;
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            return "";
        }
    }
}
