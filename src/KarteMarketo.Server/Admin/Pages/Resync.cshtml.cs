using KarteMarketo.Contracts;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Contracts.Projects;
using KarteMarketo.Contracts.Quota;
using KarteMarketo.Grains.Projects;
using Microsoft.AspNetCore.Mvc;
using Orleans;

namespace KarteMarketo.Server.Admin.Pages;

/// <summary><c>/admin/projects/{projectId}/resync</c>: what a resync of every known key would cost (the backlog grain
/// counts it by the rule its resync uses) beside today's remaining budget, and a confirm button that queues it through
/// the same grain call as <c>POST …/sync/resync</c>, answering what was queued.</summary>
public sealed class ResyncModel(IProjectDirectory directory, IGrainFactory grains) : ConsolePage
{
    /// <summary>Before confirming: what a resync would queue now.</summary>
    public ResyncAccepted? Estimate { get; private set; }

    /// <summary>After confirming: what the resync queued.</summary>
    public ResyncAccepted? Queued { get; private set; }

    /// <summary>Today's calls left on the project's Marketo instance (after the reserve).</summary>
    public int? Remaining { get; private set; }

    public async Task<IActionResult> OnGetAsync(string project, CancellationToken cancellationToken)
    {
        if (await EnterAsync(project, cancellationToken) is not { } record) return NotFound();
        Estimate = await Backlog(project).EstimateResyncAsync();
        await LoadRemainingAsync(record);
        return Page();
    }

    public async Task<IActionResult> OnPostAsync(string project, CancellationToken cancellationToken)
    {
        if (await EnterAsync(project, cancellationToken) is not { } record) return NotFound();
        Queued = await Backlog(project).ResyncAllAsync();
        await LoadRemainingAsync(record);
        return Page();
    }

    private ILeadBacklogGrain Backlog(string project) => grains.GetGrain<ILeadBacklogGrain>(GrainKeys.LeadBacklog(project));

    private async Task LoadRemainingAsync(ProjectRecord record) =>
        Remaining = (await grains.GetGrain<IMarketoQuotaGrain>(GrainKeys.Quota(record.Settings.Marketo.InstanceId))
            .GetSnapshotAsync(record.Settings.Quota)).Remaining;

    private async Task<ProjectRecord?> EnterAsync(string project, CancellationToken cancellationToken)
    {
        Title = "Resync";
        if (!ProjectKeys.IsValidProjectId(project)) return null;
        ProjectId = project;
        return await directory.GetAsync(project, cancellationToken);
    }
}
