using KarteMarketo.Grains.Projects;
using Microsoft.AspNetCore.Mvc;

namespace KarteMarketo.Server.Admin.Pages;

/// <summary><c>/admin/open?projectId=</c>: goes to a project's page (a new id opens an empty settings form).</summary>
public sealed class OpenModel : ConsolePage
{
    public IActionResult OnGet(string? projectId) =>
        ProjectKeys.IsValidProjectId(projectId)
            ? Redirect($"{ConsoleSetup.PathPrefix}/projects/{Uri.EscapeDataString(projectId!)}")
            : Redirect(ConsoleSetup.PathPrefix + "/");
}
