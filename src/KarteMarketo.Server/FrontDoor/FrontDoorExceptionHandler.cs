using System.Data.Common;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Orleans.Runtime;
using Orleans.Serialization;

namespace KarteMarketo.Server.FrontDoor;

/// <summary>
/// Turns exceptions into problems without telling the client anything internal: the framework's bad-request
/// exceptions keep their status (400, 413); a database or cluster outage is 503 with <c>Retry-After</c>;
/// everything else is 500. The exception itself goes to the log (by the exception handler middleware).
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

        var (status, title) = exception switch
        {
            BadHttpRequestException bad => (bad.StatusCode, bad.StatusCode == StatusCodes.Status413PayloadTooLarge ? "Payload too large" : "Bad request"),
            _ when IsOutage(exception) => (StatusCodes.Status503ServiceUnavailable, "Service unavailable"),
            _ => (StatusCodes.Status500InternalServerError, "Internal server error"),
        };
        if (status == StatusCodes.Status503ServiceUnavailable)
            context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);

        context.Response.StatusCode = status;
        return await problemDetails.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = Problems.DefaultDetail(context, status) },
        });
    }

    /// <summary>Bad requests and vanished clients are not the service's failures: keep them out of the error log.</summary>
    internal static bool SuppressDiagnostics(ExceptionHandlerSuppressDiagnosticsContext context) =>
        context.Exception is BadHttpRequestException || IsClientGone(context.HttpContext, context.Exception);

    private static bool IsClientGone(HttpContext context, Exception exception) =>
        exception is OperationCanceledException && context.RequestAborted.IsCancellationRequested;

    /// <summary>PostgreSQL unreachable (directly or through grain storage), or the cluster not answering.</summary>
    internal static bool IsOutage(Exception exception)
    {
        for (var ex = exception; ex is not null; ex = ex.InnerException)
        {
            switch (ex)
            {
                case DbException:
                // A silo that stayed unreachable beyond the request's deadline (ClusterCallRetry tried until then).
                case SiloUnavailableException:
                case OrleansMessageRejectionException:
                case Orleans.Runtime.Messaging.ConnectionFailedException:
                case TimeoutException:
                    return true;
                case UnavailableExceptionFallbackException fallback
                    when fallback.ExceptionType?.StartsWith("Npgsql.", StringComparison.Ordinal) == true:
                    return true;
                case AggregateException aggregate when aggregate.InnerExceptions.Any(IsOutage):
                    return true;
                // Grain storage failing in a grain on another silo: Orleans cannot serialize Npgsql's exceptions, so the
                // caller only learns that no codec exists for the Npgsql type (seen with PostgreSQL stopped under load).
                case CodecNotFoundException codec when codec.Message.Contains("Npgsql.", StringComparison.Ordinal):
                    return true;
            }
            if (ex.GetType().Namespace?.StartsWith("Npgsql", StringComparison.Ordinal) == true) return true;
            // The app stores' own "database unreachable" (KarteMarketo.Grains.Storage.StoreUnavailableException),
            // also when it crossed a grain call as a fallback.
            if (ex.GetType().Name == "StoreUnavailableException") return true;
            if (ex is UnavailableExceptionFallbackException { ExceptionType: { } name } && name.EndsWith(".StoreUnavailableException", StringComparison.Ordinal)) return true;
        }
        return false;
    }
}
