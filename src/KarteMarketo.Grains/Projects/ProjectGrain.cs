using KarteMarketo.Grains.Storage;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Projects;

/// <summary>One project's settings and hashed credentials. Reads are served from memory; every change is written
/// before it is answered. Secrets are encrypted in the persisted state (<see cref="ProjectSecrets"/>) and decrypted once
/// per activation; state written in plain text before encryption existed is rewritten encrypted on activation.</summary>
[GrainType("project")]
public sealed class ProjectGrain(
    [PersistentState("project", StorageNames.Grains)] IPersistentState<ProjectState> state,
    TimeProvider time,
    ISecretProtector secrets,
    ILogger<ProjectGrain> logger) : Grain, IProjectGrain
{
    /// <summary>The settings with their secrets decrypted, for the current <c>state.State</c>.</summary>
    private ProjectSettings? _plain;

    private string ProjectId => GrainKeys.ProjectIdOf(this.GetPrimaryKeyString());

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Settings is { } stored)
        {
            _plain = ProjectSecrets.Unprotect(stored, secrets);
            if (ProjectSecrets.HasPlainText(stored, secrets))
            {
                // The upgrade path: state from before secrets were encrypted is read as it is and written back encrypted.
                await WriteAsync(state.State, state.State with { Settings = ProjectSecrets.Protect(stored, secrets) });
                logger.LogInformation("Project {ProjectId}: secrets stored in plain text were rewritten encrypted", ProjectId);
            }
        }
        // Projects stored before the catalog existed join it when they are next used.
        if (state.State.Exists) await RegisterAsync();
        await base.OnActivateAsync(cancellationToken);
    }

    public Task<ProjectRecord?> GetAsync()
    {
        if (!state.State.Exists)
        {
            // Unknown ids are asked for by anyone who sends a request; do not keep an activation for each of them.
            DeactivateOnIdle();
            return Task.FromResult<ProjectRecord?>(null);
        }
        return Task.FromResult<ProjectRecord?>(ToRecord(state.State));
    }

    public async Task<SaveSettingsResult> SaveSettingsAsync(ProjectSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var now = time.GetUtcNow();
        var previous = state.State;
        IssuedKeys? issued = null;
        ProjectState next;
        if (previous.Exists)
        {
            // Keys survive a settings change: KARTE and Marketo keep working with what they were given.
            next = previous with { Settings = ProjectSecrets.Protect(settings, secrets), Version = previous.Version + 1, UpdatedAt = now };
        }
        else
        {
            issued = NewKeys();
            next = new ProjectState
            {
                Settings = ProjectSecrets.Protect(settings, secrets),
                ApiKey = ProjectKeys.Hash(issued.ApiKey),
                WebhookSecret = ProjectKeys.Hash(issued.WebhookSecret),
                Version = previous.Version + 1,
                CreatedAt = now,
                UpdatedAt = now,
            };
        }

        await WriteAsync(previous, next);
        _plain = settings;
        if (issued is not null) await RegisterAsync();
        logger.LogInformation("Project {ProjectId} settings saved (version {Version}, created {Created})",
            ProjectId, next.Version, issued is not null);
        return new SaveSettingsResult(ToRecord(next), issued, issued is not null);
    }

    public async Task<IssuedKeys?> RotateKeysAsync()
    {
        var previous = state.State;
        if (!previous.Exists) return null;
        var issued = NewKeys();
        var next = previous with
        {
            ApiKey = ProjectKeys.Hash(issued.ApiKey),
            WebhookSecret = ProjectKeys.Hash(issued.WebhookSecret),
            Version = previous.Version + 1,
            UpdatedAt = time.GetUtcNow(),
        };
        await WriteAsync(previous, next);
        logger.LogInformation("Project {ProjectId} keys rotated (version {Version})", ProjectId, next.Version);
        return issued;
    }

    private async Task WriteAsync(ProjectState previous, ProjectState next)
    {
        state.State = next;
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            // Memory must not run ahead of storage: a failed write leaves the project as it was.
            state.State = previous;
            throw;
        }
    }

    /// <summary>The catalog only feeds the console's list: a failure there must not fail the project.</summary>
    private async Task RegisterAsync()
    {
        try
        {
            await GrainFactory.GetGrain<IProjectCatalogGrain>(GrainKeys.ProjectCatalog).AddAsync(ProjectId);
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Project {ProjectId} could not be added to the project catalog yet", ProjectId);
        }
    }

    private IssuedKeys NewKeys() => new(ProjectKeys.Generate(ProjectId), ProjectKeys.Generate(ProjectId));

    private ProjectRecord ToRecord(ProjectState s) =>
        new(ProjectId, _plain ??= ProjectSecrets.Unprotect(s.Settings!, secrets), s.ApiKey!, s.WebhookSecret!, s.Version, s.UpdatedAt);
}
