using KarteMarketo.Contracts;
using KarteMarketo.Contracts.Quota;
using KarteMarketo.Grains.Projects;
using Microsoft.AspNetCore.Mvc;
using Orleans;

namespace KarteMarketo.Server.Admin.Pages;

/// <summary><c>/admin/projects/{projectId}/quota</c>: the Marketo day of the project's instance, as <c>GET …/quota</c>
/// reads it (the same grain call), drawn.</summary>
public sealed class QuotaModel(IProjectDirectory directory, IGrainFactory grains) : ConsolePage
{
    public QuotaSnapshot? Snapshot { get; private set; }

    public async Task<IActionResult> OnGetAsync(string project, CancellationToken cancellationToken)
    {
        Title = "Marketo day";
        if (!ProjectKeys.IsValidProjectId(project)) return NotFound();
        ProjectId = project;
        var record = await directory.GetAsync(project, cancellationToken);
        if (record is null)
        {
            Response.StatusCode = StatusCodes.Status404NotFound;
            return Page();
        }
        Snapshot = await grains.GetGrain<IMarketoQuotaGrain>(GrainKeys.Quota(record.Settings.Marketo.InstanceId))
            .GetSnapshotAsync(record.Settings.Quota);
        return Page();
    }
}
