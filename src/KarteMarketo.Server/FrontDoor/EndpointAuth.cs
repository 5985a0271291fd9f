using KarteMarketo.Contracts.Projects;
using KarteMarketo.Grains.Projects;

namespace KarteMarketo.Server.FrontDoor;

/// <summary>
/// Auth for endpoint groups (API.md, "Auth"). Groups must sit under <c>/v1/projects/{projectId}</c>. The calls only
/// attach metadata; <see cref="ProjectAuthMiddleware"/> checks it after routing and before the endpoint runs (so before
/// any body is read): a malformed project id is 400, missing or wrong credentials 401, a valid credential that is not
/// allowed here (another project's key, a project key on an admin endpoint) 403, and an unknown project 404 (after
/// auth). An endpoint under <c>/v1/projects/{projectId}</c> that declares nothing is admin-only.
/// Handlers can read who called with <see cref="ProjectAccessExtensions.GetProjectAccess"/>.
/// </summary>
public static class EndpointAuth
{
    /// <summary>Admin key only.</summary>
    public static RouteGroupBuilder RequireAdminKey(this RouteGroupBuilder group) =>
        group.WithMetadata(new ProjectAuthRequirement(ProjectCredential.AdminKey));

    /// <summary>The project's API key (or the admin key); another project's key is 403.</summary>
    public static RouteGroupBuilder RequireProjectKey(this RouteGroupBuilder group) =>
        group.WithMetadata(new ProjectAuthRequirement(ProjectCredential.ProjectKey));

    /// <summary>The project's webhook secret, in <c>X-Webhook-Secret</c> or <c>?secret=</c> (or the admin key).</summary>
    public static RouteGroupBuilder RequireWebhookSecret(this RouteGroupBuilder group) =>
        group.WithMetadata(new ProjectAuthRequirement(ProjectCredential.WebhookSecret));

    /// <summary>Lets an admin endpoint run for a project that does not exist yet (the settings PUT creates it).</summary>
    public static TBuilder AllowUnknownProject<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(AllowUnknownProjectMetadata.Instance);
}

/// <summary>Which credential an endpoint accepts (besides the admin key, which every endpoint accepts).</summary>
public enum ProjectCredential
{
    AdminKey = 0,
    ProjectKey = 1,
    WebhookSecret = 2,
}

/// <summary>Endpoint metadata set by <see cref="EndpointAuth"/>.</summary>
public sealed record ProjectAuthRequirement(ProjectCredential Credential);

internal sealed class AllowUnknownProjectMetadata
{
    public static readonly AllowUnknownProjectMetadata Instance = new();
}

/// <summary>Who is calling, once <see cref="ProjectAuthMiddleware"/> let the request in.</summary>
/// <param name="ProjectId">The project in the route.</param>
/// <param name="IsAdmin">True for the admin key.</param>
/// <param name="Record">This silo's cached copy of the project (settings and key hashes, at most a few seconds old);
/// null only for an admin request to an endpoint that allows unknown projects.</param>
public sealed record ProjectAccess(string ProjectId, bool IsAdmin, ProjectRecord? Record);

public static class ProjectAccessExtensions
{
    /// <summary>The <see cref="ProjectAccess"/> of an authorized request to a project endpoint.</summary>
    public static ProjectAccess GetProjectAccess(this HttpContext context) =>
        context.Features.Get<ProjectAccess>()
        ?? throw new InvalidOperationException("not a project endpoint, or auth has not run");
}

/// <summary>Enforces <see cref="ProjectAuthRequirement"/> (see <see cref="EndpointAuth"/>).</summary>
internal sealed class ProjectAuthMiddleware(
    RequestDelegate next,
    AdminKeyProvider adminKey,
    IProjectDirectory directory,
    FailedAuthLimiter failedAuth,
    ILogger<ProjectAuthMiddleware> logger)
{
    public const string WebhookSecretHeader = "X-Webhook-Secret";
    public const string WebhookSecretQuery = "secret";

    /// <summary>A key that does not match the cached copy is checked once more against a copy at most this old, so
    /// keys issued on another silo work at once; the bound keeps wrong keys from costing a grain call each.</summary>
    private static readonly TimeSpan RecheckAge = TimeSpan.FromSeconds(1);

    public async Task InvokeAsync(HttpContext context)
    {
        if (context.GetEndpoint() is not RouteEndpoint endpoint || endpoint.RoutePattern.GetParameter("projectId") is null)
        {
            await next(context);
            return;
        }

        var projectId = context.Request.RouteValues["projectId"] as string;
        if (!ProjectKeys.IsValidProjectId(projectId))
        {
            await Problems.Validation("projectId", "must be 1–64 characters of A–Z, a–z, 0–9, _ and -",
                "The project id in the path is malformed.").ExecuteAsync(context);
            return;
        }

        // Before any key is checked: an address past its failed-authentication budget learns nothing more.
        if (failedAuth.RetryAfter(context) is { } retryAfter)
        {
            await FailedAuthLimiter.RejectAsync(context, retryAfter);
            return;
        }

        var credential = endpoint.Metadata.GetMetadata<ProjectAuthRequirement>()?.Credential ?? ProjectCredential.AdminKey;
        var cancellationToken = context.RequestAborted;
        var bearer = BearerToken(context.Request);
        ProjectAccess access;
        if (adminKey.Matches(bearer))
        {
            var record = await directory.GetAsync(projectId!, cancellationToken);
            // Admin requests are few: before calling a project unknown, make sure with a fresh read.
            record ??= await directory.GetAsync(projectId!, TimeSpan.Zero, cancellationToken);
            if (record is null && endpoint.Metadata.GetMetadata<AllowUnknownProjectMetadata>() is null)
            {
                await Problems.ProjectNotFound(projectId!).ExecuteAsync(context);
                return;
            }
            access = new ProjectAccess(projectId!, IsAdmin: true, record);
        }
        else
        {
            // Webhook endpoints take the secret from the header or the query; a bearer token is checked otherwise, so
            // that a real credential in the wrong place is told apart (403) from a wrong one (401).
            var presented = credential == ProjectCredential.WebhookSecret ? WebhookSecretOf(context.Request) ?? bearer : bearer;
            var (owner, kind, record) = await IdentifyAsync(presented, cancellationToken);
            var accepted = credential switch
            {
                ProjectCredential.ProjectKey => kind == CredentialKind.ApiKey,
                ProjectCredential.WebhookSecret => kind == CredentialKind.WebhookSecret,
                _ => false,
            };
            var outcome = kind == CredentialKind.None ? Outcome.Invalid
                : accepted && string.Equals(owner, projectId, StringComparison.Ordinal) ? Outcome.Allowed
                : Outcome.NotAllowed;
            if (outcome != Outcome.Allowed)
            {
                await RejectAsync(context, credential, outcome);
                return;
            }
            access = new ProjectAccess(projectId!, IsAdmin: false, record);
        }

        context.Features.Set(access);
        await next(context);
    }

    private enum Outcome
    {
        Allowed,
        /// <summary>Missing, malformed or wrong: 401.</summary>
        Invalid,
        /// <summary>Valid, but for another project or another kind of endpoint: 403.</summary>
        NotAllowed,
    }

    private enum CredentialKind
    {
        None,
        ApiKey,
        WebhookSecret,
    }

    private static string? WebhookSecretOf(HttpRequest request)
    {
        var secret = request.Headers[WebhookSecretHeader].ToString();
        if (string.IsNullOrEmpty(secret)) secret = request.Query[WebhookSecretQuery].ToString();
        return string.IsNullOrEmpty(secret) ? null : secret;
    }

    /// <summary>Which project's credential, and which kind, the presented value is (see <see cref="ProjectKeys"/>):
    /// one cached lookup of the project the value names, one hash check per kind.</summary>
    private async Task<(string? Owner, CredentialKind Kind, ProjectRecord? Record)> IdentifyAsync(string? presented,
        CancellationToken cancellationToken)
    {
        var owner = ProjectKeys.ProjectIdOf(presented);
        if (owner is null) return (null, CredentialKind.None, null);
        var record = await directory.GetAsync(owner, cancellationToken);
        var kind = KindOf(record, presented);
        if (kind == CredentialKind.None)
        {
            record = await directory.GetAsync(owner, RecheckAge, cancellationToken);
            kind = KindOf(record, presented);
        }
        return (owner, kind, kind == CredentialKind.None ? null : record);
    }

    private static CredentialKind KindOf(ProjectRecord? record, string? presented) =>
        record is null ? CredentialKind.None
        : ProjectKeys.Verify(record.ApiKey, presented) ? CredentialKind.ApiKey
        : ProjectKeys.Verify(record.WebhookSecret, presented) ? CredentialKind.WebhookSecret
        : CredentialKind.None;

    private Task RejectAsync(HttpContext context, ProjectCredential credential, Outcome outcome)
    {
        // The path only: the query may carry a webhook secret.
        logger.LogInformation("Refused {Method} {Path}: {Outcome} credentials for a {Credential} endpoint",
            context.Request.Method, context.Request.Path, outcome, credential);
        if (outcome == Outcome.NotAllowed)
        {
            return Problems.Forbidden(credential switch
            {
                ProjectCredential.AdminKey => "This endpoint needs the admin key.",
                ProjectCredential.WebhookSecret => "This is not this project's webhook secret (another project's, or another kind of key).",
                _ => "This is not this project's API key (another project's, or another kind of key).",
            }).ExecuteAsync(context);
        }

        failedAuth.RecordFailure(context);
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return Problems.Unauthorized(credential switch
        {
            ProjectCredential.AdminKey => "Send the admin key: Authorization: Bearer <admin key>.",
            ProjectCredential.WebhookSecret => $"Send the project's webhook secret in {WebhookSecretHeader} or ?{WebhookSecretQuery}=.",
            _ => "Send the project's API key: Authorization: Bearer <apiKey>.",
        }).ExecuteAsync(context);
    }

    private static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return null;
        var token = header[scheme.Length..].Trim();
        return token.Length == 0 ? null : token;
    }
}
