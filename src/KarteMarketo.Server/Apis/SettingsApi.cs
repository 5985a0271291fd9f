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
        ProjectSettingsService Settings);

    internal static async Task<Results<Ok<SettingsResponse>, ProblemHttpResult>> PutSettingsAsync(
        string projectId, HttpRequest request, [AsParameters] SettingsServices services, CancellationToken cancellationToken)
    {
        var body = await JsonBody.ReadAsync<SettingsRequest>(request, cancellationToken: cancellationToken);
        if (!body.IsOk) return body.Problem;
        var outcome = await services.Settings.SaveAsync(projectId, body.Value, cancellationToken);
        return outcome.Saved is { } saved ? TypedResults.Ok(saved) : Problems.Validation(outcome.Errors.ToDictionary());
    }

    internal static async Task<Results<Ok<SettingsResponse>, ProblemHttpResult>> GetSettingsAsync(
        string projectId, [AsParameters] SettingsServices services)
    {
        var settings = await services.Settings.GetAsync(projectId);
        return settings is null ? Problems.ProjectNotFound(projectId) : TypedResults.Ok(settings);
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
}
