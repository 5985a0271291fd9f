using KarteMarketo.Contracts;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Contracts.Outbox;
using KarteMarketo.Contracts.Projects;
using KarteMarketo.Grains.Projects;
using Orleans;

namespace KarteMarketo.Server.Settings;

/// <summary>The outcome of <see cref="ProjectSettingsService.SaveAsync"/>: the stored settings (with the connection
/// check's outcome), or the validation errors by JSON path, nothing stored.</summary>
public sealed record SettingsSaveOutcome(SettingsResponse? Saved, IReadOnlyDictionary<string, string[]> Errors)
{
    public bool IsSaved => Saved is not null;
}

/// <summary>
/// Saving and reading a project's settings: the one implementation behind <c>PUT/GET …/settings</c> and the admin
/// console's settings and mapping forms, so that both apply the same rules (validation, masked secrets sent back,
/// the scheduler told, the credential check).
/// </summary>
public sealed class ProjectSettingsService(
    IGrainFactory grains,
    IProjectDirectory directory,
    SettingsValidator validator,
    MarketoConnectionCheck connectionCheck,
    KarteConnectionCheck karteCheck,
    ILogger<ProjectSettingsService> logger)
{
    private const string MaskPrefix = "****";

    /// <summary>Validates and stores <paramref name="request"/>, creating the project where it does not exist.</summary>
    public async Task<SettingsSaveOutcome> SaveAsync(string projectId, SettingsRequest? request, CancellationToken cancellationToken)
    {
        var validation = validator.Validate(request);
        if (!validation.IsValid) return new SettingsSaveOutcome(null, validation.Errors);

        var grain = grains.GetGrain<IProjectGrain>(GrainKeys.Project(projectId));
        var settings = validation.Settings!;
        if (HasMaskedSecret(settings.Marketo) || IsMasked(settings.Karte.AppToken))
        {
            // Only a read copy sent back needs the stored secrets; read them fresh, not from the cache.
            var errors = new ValidationErrors();
            var stored = (await grain.GetAsync())?.Settings;
            settings = KeepMaskedSecrets(settings, stored, errors);
            settings = KeepMaskedAppToken(settings, stored, errors);
            if (errors.HasErrors) return new SettingsSaveOutcome(null, errors.ToDictionary());
        }

        var saved = await grain.SaveSettingsAsync(settings);
        directory.Invalidate(projectId);
        await NotifySyncSchedulerAsync(projectId);
        await NotifyKarteDispatcherAsync(projectId);
        var connection = await connectionCheck.CheckAsync(projectId, settings.Marketo, cancellationToken);
        var karteConnection = await karteCheck.CheckAsync(projectId, settings.Karte, cancellationToken);
        return new SettingsSaveOutcome(SettingsResponse.From(saved.Record, saved.IssuedKeys, connection, karteConnection),
            new Dictionary<string, string[]>());
    }

    /// <summary>KARTE writes paused for a refused app token resume once the settings change (API.md, "KARTE write-back").
    /// The settings are saved already; a failure here leaves the pause until its periodic recheck.</summary>
    private async Task NotifyKarteDispatcherAsync(string projectId)
    {
        try
        {
            await grains.GetGrain<IKarteWriteDispatcherGrain>(GrainKeys.KarteWriteDispatcher(projectId)).SettingsChangedAsync();
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Project {ProjectId}: the KARTE write dispatcher did not take the new settings yet", projectId);
        }
    }

    /// <summary>
    /// <c>karte.appToken</c> sent back masked keeps the stored token, unless <c>karte.endpoint</c> moves to another
    /// host: a token must not follow the settings to a host it was not issued for (API.md, "Secrets follow their host").
    /// </summary>
    private static ProjectSettings KeepMaskedAppToken(ProjectSettings incoming, ProjectSettings? stored, ValidationErrors errors)
    {
        var k = incoming.Karte;
        if (!IsMasked(k.AppToken)) return incoming;
        var storedKarte = stored?.Karte;
        if (storedKarte?.AppToken is not null && !SameHost(storedKarte.Endpoint, k.Endpoint))
        {
            errors.Add("karte.appToken", "must be sent in full when karte.endpoint moves to another host");
            return incoming;
        }
        var token = Keep("karte.appToken", k.AppToken!, storedKarte?.AppToken, hostChanged: false, errors);
        return incoming with { Karte = k with { AppToken = token ?? k.AppToken } };
    }

    private static bool IsMasked(string? secret) => secret?.StartsWith(MaskPrefix, StringComparison.Ordinal) == true;

    /// <summary>The stored settings, secrets masked (read from the grain, not the cache: an admin reading settings
    /// expects the latest write from any host); null for an unknown project.</summary>
    public async Task<SettingsResponse?> GetAsync(string projectId)
    {
        var record = await grains.GetGrain<IProjectGrain>(GrainKeys.Project(projectId)).GetAsync();
        return record is null ? null : SettingsResponse.From(record, null, null);
    }

    /// <summary>The periodic sync's reminder follows the settings: registered, re-registered on a new interval, or
    /// dropped. The settings are saved already; a failure here only delays that until the project's next identify.</summary>
    private async Task NotifySyncSchedulerAsync(string projectId)
    {
        try
        {
            await grains.GetGrain<ISyncSchedulerGrain>(GrainKeys.SyncScheduler(projectId)).SettingsChangedAsync();
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Project {ProjectId}: the periodic sync scheduler did not take the new settings yet", projectId);
        }
        try
        {
            // A move to another Marketo instance: leads of the old one are dropped from the users and every key is
            // looked up again (key grains forget theirs on their own, at their next use).
            await grains.GetGrain<ILeadBacklogGrain>(GrainKeys.LeadBacklog(projectId)).SettingsChangedAsync();
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Project {ProjectId}: the lead backlog did not take the new settings yet", projectId);
        }
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
