using KarteMarketo.Contracts.Projects;
using KarteMarketo.Grains.Projects;
using KarteMarketo.Server.Settings;
using Microsoft.AspNetCore.Mvc;

namespace KarteMarketo.Server.Admin.Pages;

/// <summary><c>/admin/projects/{projectId}/mappings</c>: field mappings (conversion dropdown, subscription field) and
/// activity mappings; add, remove and reorder on the page, then save through the settings service.</summary>
public sealed class MappingsModel(ProjectSettingsService settings, SettingsValidator validator) : ConsolePage
{
    public List<MappingsForm.FieldRow> Fields { get; private set; } = [];
    public List<MappingsForm.ActivityRow> Activities { get; private set; } = [];
    public IReadOnlyList<string> Conversions { get; } = [.. FieldConversions.All.Order(StringComparer.Ordinal)];
    public IReadOnlyDictionary<string, string[]> Errors { get; private set; } = new Dictionary<string, string[]>();
    public bool Missing { get; private set; }
    public bool SavedNow { get; private set; }
    public bool Edited { get; private set; }

    public IReadOnlyList<string> ErrorsFor(string path) =>
        [.. Errors.Where(e => e.Key == path || e.Key.StartsWith(path + ".", StringComparison.Ordinal)).SelectMany(e => e.Value)];

    /// <summary>Errors shown by no row (a mapping path outside the rows, or another section's).</summary>
    public IReadOnlyList<string> UnplacedErrors =>
        [.. Errors.Where(e => !e.Key.StartsWith("fieldMappings", StringComparison.Ordinal) && !e.Key.StartsWith("activityMappings", StringComparison.Ordinal))
            .SelectMany(e => e.Value.Select(v => $"{e.Key}: {v}"))];

    public async Task<IActionResult> OnGetAsync(string project)
    {
        if (!Enter(project)) return NotFound();
        var stored = await settings.GetAsync(project);
        if (stored is null)
        {
            Missing = true;
            Response.StatusCode = StatusCodes.Status404NotFound;
            return Page();
        }
        var request = SettingsForm.FromStored(stored);
        Fields = MappingsForm.FieldRows(request);
        Activities = MappingsForm.ActivityRows(request);
        return Page();
    }

    public async Task<IActionResult> OnPostAsync(string project, string? op, CancellationToken cancellationToken)
    {
        if (!Enter(project)) return NotFound();
        Fields = MappingsForm.FieldRows(Request.Form);
        Activities = MappingsForm.ActivityRows(Request.Form);
        if (MappingsForm.ApplyEdit(op, Fields, Activities))
        {
            Edited = true;
            return Page();
        }

        var stored = await settings.GetAsync(project);
        if (stored is null)
        {
            Missing = true;
            Response.StatusCode = StatusCodes.Status404NotFound;
            return Page();
        }
        var request = SettingsForm.FromStored(stored);
        var parseErrors = new ValidationErrors();
        MappingsForm.Apply(request, Fields, Activities, parseErrors);
        if (parseErrors.HasErrors)
        {
            Errors = SettingsForm.Merge(parseErrors.ToDictionary(), validator.Validate(request).Errors);
        }
        else
        {
            var outcome = await settings.SaveAsync(project, request, cancellationToken);
            Errors = outcome.Errors;
            if (outcome.Saved is { } saved)
            {
                SavedNow = true;
                var again = SettingsForm.FromStored(saved);
                Fields = MappingsForm.FieldRows(again);
                Activities = MappingsForm.ActivityRows(again);
            }
        }
        if (Errors.Count > 0) Response.StatusCode = StatusCodes.Status400BadRequest;
        return Page();
    }

    private bool Enter(string project)
    {
        Title = "Mappings";
        if (!ProjectKeys.IsValidProjectId(project)) return false;
        ProjectId = project;
        return true;
    }
}
