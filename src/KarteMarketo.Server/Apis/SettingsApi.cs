using KarteMarketo.Contracts.Projects;
using KarteMarketo.Contracts;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Projects;
using KarteMarketo.Server.Settings;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Orleans;

namespace KarteMarketo.Server.Apis;

public static class SettingsApi
{
    /// <summary>Endpoints: project settings and keys (admin).</summary>
    public static IEndpointRouteBuilder MapSettingsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/projects/{projectId}").RequireAdminKey().WithTags("Settings");
        group.MapPut("/settings", PutSettingsAsync).AllowUnknownProject()
            .WithSummary("Creates or replaces a project's settings; the first PUT issues the API key and webhook secret.");
        group.MapGet("/settings", GetSettingsAsync).WithSummary("Reads a project's settings, secrets masked.");
        group.MapPost("/keys/rotate", RotateKeysAsync).WithSummary("Issues a new API key and webhook secret; the old ones stop working.");
        return app;
    }

    /// <summary>What the settings endpoints use.</summary>
    public sealed record SettingsServices(
        IGrainFactory Grains,
        IProjectDirectory Directory,
        SettingsValidator Validator,
        MarketoConnectionCheck ConnectionCheck,
        ILoggerFactory LoggerFactory);

    internal static async Task<Results<Ok<SettingsResponse>, ProblemHttpResult>> PutSettingsAsync(
        string projectId, HttpRequest request, [AsParameters] SettingsServices services, CancellationToken cancellationToken)
    {
        var body = await JsonBody.ReadAsync<SettingsRequest>(request, cancellationToken: cancellationToken);
        if (!body.IsOk) return body.Problem;
        var validation = services.Validator.Validate(body.Value);
        if (!validation.IsValid) return Problems.Validation(validation.Errors.ToDictionary());

        var grain = services.Grains.GetGrain<IProjectGrain>(GrainKeys.Project(projectId));
        var settings = validation.Settings!;
        if (HasMaskedSecret(settings.Marketo))
        {
            // Only a read copy sent back needs the stored secrets; read them fresh, not from the cache.
            var errors = new ValidationErrors();
            settings = KeepMaskedSecrets(settings, (await grain.GetAsync())?.Settings, errors);
            if (errors.HasErrors) return Problems.Validation(errors);
        }

        var saved = await grain.SaveSettingsAsync(settings);
        services.Directory.Invalidate(projectId);
        await NotifySyncSchedulerAsync(services, projectId);
        var connection = await services.ConnectionCheck.CheckAsync(projectId, settings.Marketo, cancellationToken);
        return TypedResults.Ok(SettingsResponse.From(saved.Record, saved.IssuedKeys, connection));
    }

    /// <summary>The periodic sync's reminder follows the settings: registered, re-registered on a new interval, or
    /// dropped. The settings are saved already; a failure here only delays that until the project's next identify.</summary>
    private static async Task NotifySyncSchedulerAsync(SettingsServices services, string projectId)
    {
        try
        {
            await services.Grains.GetGrain<ISyncSchedulerGrain>(GrainKeys.SyncScheduler(projectId)).SettingsChangedAsync();
        }
        catch (Exception ex)
        {
            services.LoggerFactory.CreateLogger("KarteMarketo.Settings")
                .LogWarning(ex, "Project {ProjectId}: the periodic sync scheduler did not take the new settings yet", projectId);
        }
    }

    internal static async Task<Results<Ok<SettingsResponse>, ProblemHttpResult>> GetSettingsAsync(
        string projectId, [AsParameters] SettingsServices services)
    {
        // Read from the grain, not the cache: an admin reading settings expects the latest write from any host.
        var record = await services.Grains.GetGrain<IProjectGrain>(GrainKeys.Project(projectId)).GetAsync();
        return record is null ? Problems.ProjectNotFound(projectId) : TypedResults.Ok(SettingsResponse.From(record, null, null));
    }

    internal static async Task<Results<Ok<SettingsResponse>, ProblemHttpResult>> RotateKeysAsync(
        string projectId, [AsParameters] SettingsServices services)
    {
        var grain = services.Grains.GetGrain<IProjectGrain>(GrainKeys.Project(projectId));
        var issued = await grain.RotateKeysAsync();
        services.Directory.Invalidate(projectId);
        if (issued is null) return Problems.ProjectNotFound(projectId);
        var record = await grain.GetAsync();
        return record is null ? Problems.ProjectNotFound(projectId) : TypedResults.Ok(SettingsResponse.From(record, issued, null));
    }

    /// <summary>
    /// A settings screen reads masked secrets and may send them back unchanged: a secret equal to the mask of the
    /// stored one means "keep the stored one". A masked value with nothing (or something else) stored is an error,
    /// since storing the mask itself would break the connection.
    /// </summary>
    private static ProjectSettings KeepMaskedSecrets(ProjectSettings incoming, ProjectSettings? stored, ValidationErrors errors)
    {
        var m = incoming.Marketo;
        // Secrets follow their host (API.md, "A hardened host"): a kept secret would otherwise be sent to whatever
        // host the new endpoint names, by the credential check first of all.
        var moved = stored is not null && (!SameHost(m.Endpoint, stored.Marketo.Endpoint) || !SameHost(m.Identity, stored.Marketo.Identity));
        var secret = Keep("marketo.clientSecret", m.ClientSecret, stored?.Marketo.ClientSecret, moved, errors);
        var munchkin = m.MunchkinPrivateKey is null ? null : Keep("marketo.munchkinPrivateKey", m.MunchkinPrivateKey, stored?.Marketo.MunchkinPrivateKey, moved, errors);
        return incoming with { Marketo = m with { ClientSecret = secret ?? m.ClientSecret, MunchkinPrivateKey = munchkin } };
    }

    private static bool HasMaskedSecret(MarketoSettings m) =>
        m.ClientSecret.StartsWith(MaskPrefix, StringComparison.Ordinal)
        || m.MunchkinPrivateKey?.StartsWith(MaskPrefix, StringComparison.Ordinal) == true;

    private const string MaskPrefix = "****";

    /// <summary>Same scheme, host and port (host names compared without case).</summary>
    internal static bool SameHost(string a, string b) =>
        Uri.TryCreate(a, UriKind.Absolute, out var x) && Uri.TryCreate(b, UriKind.Absolute, out var y) &&
        string.Equals(x.Scheme, y.Scheme, StringComparison.OrdinalIgnoreCase) &&
        string.Equals(x.IdnHost, y.IdnHost, StringComparison.OrdinalIgnoreCase) && x.Port == y.Port;

    private static string? Keep(string path, string incoming, string? stored, bool hostChanged, ValidationErrors errors)
    {
        if (!incoming.StartsWith(MaskPrefix, StringComparison.Ordinal)) return incoming;
        if (hostChanged && stored is not null)
        {
            errors.Add(path, "must be sent in full when marketo.endpoint or marketo.identity moves to another host");
            return null;
        }
        if (stored is not null && incoming == ProjectKeys.Mask(stored)) return stored;
        errors.Add(path, "is masked; send the secret itself");
        return null;
    }
}
