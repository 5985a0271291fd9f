using System.Text.Json.Nodes;

namespace KarteMarketo.Karte;

/// <summary>
/// Writes events to KARTE through <c>POST {endpoint}/v2/track/event/write</c> (karte-facts.md), one user per call,
/// and classifies KARTE's answer. No retries here: the caller (the KARTE outbox) owns retries, back-off and pausing.
/// </summary>
public interface IKarteClient
{
    /// <summary>Writes one or more events of one user. Never throws for KARTE's answers or the network; only for
    /// cancellation by <paramref name="cancellationToken"/>.</summary>
    Task<KarteWriteResult> WriteAsync(KarteConnection connection, KarteWriteRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// Checks an app token without writing anything: sends the write endpoint a body with no <c>keys</c> and no
    /// <c>event</c>, which KARTE must refuse. A <c>400</c> means the token was accepted (the body was not);
    /// <c>401</c>/<c>403</c> mean the token was refused. Nothing can be recorded from such a body.
    /// </summary>
    Task<KarteTokenCheck> CheckTokenAsync(KarteConnection connection, CancellationToken cancellationToken = default);
}

/// <summary>Where and as whom to write. <see cref="Endpoint"/> is the API root, e.g. <c>https://api.karte.io</c>.</summary>
public sealed record KarteConnection(Uri Endpoint, string AppToken)
{
    /// <summary>Never print the token.</summary>
    public override string ToString() => $"KarteConnection {{ Endpoint = {Endpoint} }}";
}

/// <summary>One KARTE event: its name and values.</summary>
public sealed record KarteEvent(string EventName, JsonObject Values);

/// <summary>Events of one user (<see cref="UserId"/> is KARTE's <c>keys.user_id</c>).</summary>
public sealed record KarteWriteRequest(string UserId, IReadOnlyList<KarteEvent> Events);

/// <summary>How a write ended.</summary>
public enum KarteWriteOutcome
{
    /// <summary>2xx: KARTE took it.</summary>
    Delivered = 0,
    /// <summary>429, 408, 5xx, a time-out or a network failure: try again later (<see cref="KarteWriteResult.RetryAfter"/> when KARTE said).</summary>
    Retry = 1,
    /// <summary>400, 404, 413 and other refusals of this write: sending it again cannot help.</summary>
    Failed = 2,
    /// <summary>401 or 403: the app token is refused; every write of the project would fail the same way.</summary>
    Unauthorized = 3,
}

/// <summary>The classified answer. <see cref="Error"/> carries KARTE's answer (status and the start of its body) or
/// what went wrong on the way, never the token or the remote address.</summary>
public sealed record KarteWriteResult(KarteWriteOutcome Outcome, int? StatusCode, TimeSpan? RetryAfter, string? Error)
{
    public bool IsDelivered => Outcome == KarteWriteOutcome.Delivered;
}

/// <summary>What the token check found.</summary>
public enum KarteTokenCheckOutcome
{
    /// <summary>KARTE accepted the token (it refused the empty body with 400, or, unexpectedly, took it).</summary>
    Accepted = 0,
    /// <summary>401/403.</summary>
    Refused = 1,
    /// <summary>KARTE could not be reached or answered something else; the token is not known to be good or bad.</summary>
    Unknown = 2,
}

/// <summary>The token check's outcome and a sentence for the settings response.</summary>
public sealed record KarteTokenCheck(KarteTokenCheckOutcome Outcome, string Detail);
