using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;

namespace KarteMarketo.Server.FrontDoor;

/// <summary>
/// The service's error answers: <c>application/problem+json</c> (RFC 9457) with <c>title</c>, <c>status</c> and
/// <c>detail</c>, plus <c>errors</c> (JSON path → messages) for validation failures (API.md, "Conventions").
/// Every helper returns <see cref="ProblemHttpResult"/>, so an endpoint needs one problem type in its
/// <c>Results&lt;…&gt;</c> union, e.g. <c>Results&lt;Accepted&lt;T&gt;, ProblemHttpResult&gt;</c>.
/// </summary>
public static class Problems
{
    /// <summary>400 with <c>errors</c>: <c>{ "marketo.clientId": ["is required"] }</c>. Paths use the request's
    /// JSON names: <c>a.b</c>, <c>list[2].c</c>, and <c>[3].userId</c> for the fourth element of an array body.</summary>
    public static ProblemHttpResult Validation(ValidationErrors errors, string? detail = null) =>
        Validation(errors.ToDictionary(), detail);

    /// <inheritdoc cref="Validation(ValidationErrors, string?)"/>
    public static ProblemHttpResult Validation(IDictionary<string, string[]> errors, string? detail = null) =>
        TypedResults.Problem(new HttpValidationProblemDetails(errors)
        {
            Status = StatusCodes.Status400BadRequest,
            Title = "Invalid request",
            Detail = detail ?? "One or more fields are invalid; see errors. Nothing was changed.",
        });

    /// <summary>400 with a single error for one path.</summary>
    public static ProblemHttpResult Validation(string path, string message, string? detail = null) =>
        Validation(new Dictionary<string, string[]> { [path] = [message] }, detail);

    public static ProblemHttpResult BadRequest(string detail) =>
        Problem(StatusCodes.Status400BadRequest, "Bad request", detail);

    public static ProblemHttpResult Unauthorized(string detail) =>
        Problem(StatusCodes.Status401Unauthorized, "Unauthorized", detail);

    public static ProblemHttpResult Forbidden(string detail) =>
        Problem(StatusCodes.Status403Forbidden, "Forbidden", detail);

    public static ProblemHttpResult NotFound(string detail) =>
        Problem(StatusCodes.Status404NotFound, "Not found", detail);

    public static ProblemHttpResult ProjectNotFound(string projectId) =>
        NotFound($"Project '{projectId}' does not exist.");

    public static ProblemHttpResult PayloadTooLarge() =>
        Problem(StatusCodes.Status413PayloadTooLarge, "Payload too large",
            $"Request bodies are limited to {RequestLimits.MaxBodyBytes} bytes (1 MiB).");

    /// <summary>413 with <c>errors</c> naming the values map over the per-item bound.</summary>
    public static ProblemHttpResult ValuesTooLarge(string path, string message) =>
        TypedResults.Problem(new HttpValidationProblemDetails(new Dictionary<string, string[]> { [path] = [message] })
        {
            Status = StatusCodes.Status413PayloadTooLarge,
            Title = "Payload too large",
            Detail = "A stored event, lead or activity may hold at most 64 KiB of values; see errors. Nothing was changed.",
        });

    public static ProblemHttpResult UnsupportedMediaType(string detail) =>
        Problem(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", detail);

    public static ProblemHttpResult Problem(int status, string title, string detail) =>
        TypedResults.Problem(new ProblemDetails { Status = status, Title = title, Detail = detail });

    /// <summary>A detail for the statuses the framework answers by itself (unknown route, wrong method, …), whose
    /// problems would otherwise carry no <c>detail</c>.</summary>
    internal static string DefaultDetail(HttpContext context, int status) => status switch
    {
        StatusCodes.Status400BadRequest => "The request is malformed.",
        StatusCodes.Status401Unauthorized => "Missing or invalid credentials.",
        StatusCodes.Status403Forbidden => "These credentials are not allowed here.",
        StatusCodes.Status404NotFound => "Nothing is served at this path.",
        StatusCodes.Status405MethodNotAllowed =>
            $"{context.Request.Method} is not allowed here" +
            (context.Response.Headers.Allow.Count > 0 ? $"; allowed: {context.Response.Headers.Allow}." : "."),
        StatusCodes.Status413PayloadTooLarge => $"Request bodies are limited to {RequestLimits.MaxBodyBytes} bytes (1 MiB).",
        StatusCodes.Status415UnsupportedMediaType => "Send JSON (Content-Type: application/json).",
        StatusCodes.Status500InternalServerError => "An unexpected error occurred. Nothing more is told here; the service log has the details.",
        StatusCodes.Status503ServiceUnavailable => "The service cannot reach its storage right now; try again shortly.",
        _ => ReasonPhrases.GetReasonPhrase(status),
    };
}
