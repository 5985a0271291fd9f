using System.Data.Common;
using System.Text;
using KarteMarketo.Grains.Storage;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Orleans.Runtime;
using Orleans.Serialization;

namespace KarteMarketo.Server.FrontDoor;

/// <summary>
/// Turns exceptions into problems without telling the client anything internal: the framework's bad-request
/// exceptions keep their status (400, 413); a database or cluster outage is 503 with <c>Retry-After</c>; a value the
/// database refuses is 400 (retrying it would never help); everything else is 500. The exception itself goes to the log (by the exception handler middleware).
/// </summary>
internal sealed class FrontDoorExceptionHandler(IProblemDetailsService problemDetails) : IExceptionHandler
{
    public const int RetryAfterSeconds = 5;

    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (context.Response.HasStarted) return false;
        if (IsClientGone(context, exception))
        {
            // Nobody is listening; 499 keeps the request log honest.
            context.Response.StatusCode = 499;
            return true;
        }

        var meaning = exception is BadHttpRequestException ? Meaning.Unexpected : Classify(exception);
        var (status, title) = exception switch
        {
            BadHttpRequestException bad => (bad.StatusCode, bad.StatusCode == StatusCodes.Status413PayloadTooLarge ? "Payload too large" : "Bad request"),
            _ => meaning switch
            {
                Meaning.Outage => (StatusCodes.Status503ServiceUnavailable, "Service unavailable"),
                Meaning.RefusedValue => (StatusCodes.Status400BadRequest, "Bad request"),
                _ => (StatusCodes.Status500InternalServerError, "Internal server error"),
            },
        };
        if (status == StatusCodes.Status503ServiceUnavailable)
            context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);

        context.Response.StatusCode = status;
        return await problemDetails.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = meaning == Meaning.RefusedValue
                ? "The database refused a value in this request (text or a number it cannot hold); retrying will not help."
                : Problems.DefaultDetail(context, status) },
        });
    }

    /// <summary>Bad requests and vanished clients are not the service's failures: keep them out of the error log.</summary>
    internal static bool SuppressDiagnostics(ExceptionHandlerSuppressDiagnosticsContext context) =>
        context.Exception is BadHttpRequestException || IsClientGone(context.HttpContext, context.Exception);

    private static bool IsClientGone(HttpContext context, Exception exception) =>
        exception is OperationCanceledException && context.RequestAborted.IsCancellationRequested;

    /// <summary>What an unexpected exception means for the caller (API.md, "Errors mean what they say").</summary>
    internal enum Meaning
    {
        /// <summary>Nothing known: 500.</summary>
        Unexpected,
        /// <summary>A dependency is down (database connection, class 08/53/57; the cluster not answering): 503.</summary>
        Outage,
        /// <summary>The database refused a value (data exception 22, integrity 23, program limit 54): 400.</summary>
        RefusedValue,
    }

    /// <summary>PostgreSQL unreachable (directly or through grain storage), or the cluster not answering.</summary>
    internal static bool IsOutage(Exception exception) => Classify(exception) == Meaning.Outage;

    internal static Meaning Classify(Exception exception)
    {
        for (var ex = exception; ex is not null; ex = ex.InnerException)
        {
            switch (ex)
            {
                // The app stores' own "database unreachable" (KarteMarketo.Grains.Storage.StoreUnavailableException).
                case StoreUnavailableException:
                    return Meaning.Outage;
                case DbException db:
                    return FromSqlState(db.SqlState);
                // A silo that stayed unreachable beyond the request's deadline (ClusterCallRetry tried until then).
                case SiloUnavailableException:
                case OrleansMessageRejectionException:
                case Orleans.Runtime.Messaging.ConnectionFailedException:
                case TimeoutException:
                    return Meaning.Outage;
                // Text the database driver cannot encode (a lone surrogate that got past the front door).
                case EncoderFallbackException:
                    return Meaning.RefusedValue;
                case UnavailableExceptionFallbackException { ExceptionType: { } type } fallback:
                    if (type.EndsWith(".StoreUnavailableException", StringComparison.Ordinal)) return Meaning.Outage;
                    // PostgresException's message starts with its SQLSTATE ("22021: invalid byte sequence …").
                    if (type == "Npgsql.PostgresException") return FromSqlState(LeadingSqlState(fallback.Message));
                    if (type.StartsWith("Npgsql.", StringComparison.Ordinal)) return Meaning.Outage;
                    break;
                case AggregateException aggregate:
                    var inner = aggregate.InnerExceptions.Select(Classify).ToList();
                    if (inner.Contains(Meaning.Outage)) return Meaning.Outage;
                    if (inner.Contains(Meaning.RefusedValue)) return Meaning.RefusedValue;
                    return Meaning.Unexpected;
                // Grain storage failing in a grain on another silo: Orleans cannot serialize Npgsql's exceptions, so the
                // caller only learns that no codec exists for the Npgsql type (seen with PostgreSQL stopped under load).
                case CodecNotFoundException codec when codec.Message.Contains("Npgsql.", StringComparison.Ordinal):
                    return Meaning.Outage;
            }
            if (ex.GetType().Namespace?.StartsWith("Npgsql", StringComparison.Ordinal) == true) return Meaning.Outage;
        }
        return Meaning.Unexpected;
    }

    /// <summary>No SQLSTATE means the server never answered (socket, time-out, pool): an outage.</summary>
    private static Meaning FromSqlState(string? state)
    {
        if (string.IsNullOrEmpty(state) || state.Length < 2) return Meaning.Outage;
        return state[..2] switch
        {
            "08" or "53" or "57" => Meaning.Outage,
            "22" or "23" or "54" => Meaning.RefusedValue,
            _ => Meaning.Unexpected,
        };
    }

    private static string? LeadingSqlState(string message) =>
        message.Length >= 6 && message[5] == ':' && message[..5].All(char.IsAsciiLetterOrDigit) ? message[..5] : null;
}
