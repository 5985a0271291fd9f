using KarteMarketo.Grains.Projects;
using KarteMarketo.Server.Settings;
using Microsoft.AspNetCore.Mvc;

namespace KarteMarketo.Server.Admin.Pages;

/// <summary><c>/admin/projects/{projectId}</c>: every field of <c>PUT settings</c>, saved through the same service,
/// the API's messages beside each field, secrets write-only, the credential check's outcome.</summary>
public sealed class ProjectModel(ProjectSettingsService settings, SettingsValidator validator) : ConsolePage
{
    /// <summary>The fields of this form (the paths its inputs are named by); errors for other paths go to the top.</summary>
    public static readonly string[] Fields =
    [
        "marketo.clientId", "marketo.clientSecret", "marketo.endpoint", "marketo.identity", "marketo.munchkinPrivateKey",
        "marketo.customFields", "marketo.excludedFields", "marketo.timeZone", "periodicSync.enabled",
        "periodicSync.intervalMinutes", "realtimeSync.enabled", "realtimeSync.keys", "realtimeSync.resyncWindowSeconds",
        "realtimeSync.batchDelayMilliseconds", "quota.dailyLimit", "quota.reservePercent", "quota.callsPer20Seconds",
        "quota.maxConcurrentCalls", "karte.enabled", "karte.endpoint", "karte.appToken", "karte.requestsPerSecond",
        "karte.writeOnlyOnChange",
    ];

    public SettingsResponse? Stored { get; private set; }
    public SettingsResponse? Saved { get; private set; }
    public bool NotFoundNew { get; private set; }

    /// <summary>True when this save created the project: the response carries its keys in full, once.</summary>
    public bool Issued => Saved is not null && !Saved.ApiKey.StartsWith("****", StringComparison.Ordinal);

    public Dictionary<string, string?> Values { get; private set; } = new(StringComparer.Ordinal);
    public IReadOnlyDictionary<string, string[]> Errors { get; private set; } = new Dictionary<string, string[]>();
    public IReadOnlyList<string> UnplacedErrors => SettingsForm.Unplaced(Errors, Fields);

    public IReadOnlyList<string> ErrorsFor(string path) => SettingsForm.ErrorsFor(Errors, path);

    public bool KeyChecked(string key) =>
        Values.TryGetValue("realtimeSync.keys", out var keys) && keys is not null
        && keys.Split(',', StringSplitOptions.TrimEntries).Contains(key, StringComparer.Ordinal);

    public async Task<IActionResult> OnGetAsync(string project)
    {
        if (!Enter(project)) return NotFound();
        Stored = await settings.GetAsync(project);
        NotFoundNew = Stored is null;
        Values = SettingsForm.Values(Stored is null ? SettingsDefaults.For(validator) : SettingsForm.FromStored(Stored));
        return Page();
    }

    public async Task<IActionResult> OnPostAsync(string project, CancellationToken cancellationToken)
    {
        if (!Enter(project)) return NotFound();
        Stored = await settings.GetAsync(project);
        var request = SettingsForm.FromStored(Stored);
        var parseErrors = new ValidationErrors();
        SettingsForm.ApplySettings(request, Request.Form, Stored, parseErrors);

        if (parseErrors.HasErrors)
        {
            // A number that is not one never reaches the service; the rest is still checked so every field is marked.
            Errors = SettingsForm.Merge(parseErrors.ToDictionary(), validator.Validate(request).Errors);
        }
        else
        {
            var outcome = await settings.SaveAsync(project, request, cancellationToken);
            Errors = outcome.Errors;
            Saved = outcome.Saved;
        }

        if (Saved is not null)
        {
            Stored = Saved;
            Values = SettingsForm.Values(SettingsForm.FromStored(Saved));
        }
        else
        {
            NotFoundNew = Stored is null;
            Values = SettingsForm.Values(Request.Form);
            Response.StatusCode = StatusCodes.Status400BadRequest;
        }
        return Page();
    }

    private bool Enter(string project)
    {
        Title = "Settings";
        if (!ProjectKeys.IsValidProjectId(project)) return false;
        ProjectId = project;
        return true;
    }
}
