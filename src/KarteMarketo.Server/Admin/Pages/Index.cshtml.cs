using KarteMarketo.Contracts;
using KarteMarketo.Contracts.Projects;
using Orleans;

namespace KarteMarketo.Server.Admin.Pages;

/// <summary><c>/admin/</c>: the projects, each linking to <c>/admin/projects/{projectId}</c>.</summary>
public sealed class IndexModel(IGrainFactory grains) : ConsolePage
{
    public const int MaxListed = 1000;

    public IReadOnlyList<string> ProjectIds { get; private set; } = [];

    public async Task OnGetAsync()
    {
        Title = "Projects";
        var page = await grains.GetGrain<IProjectCatalogGrain>(GrainKeys.ProjectCatalog).ListAsync(MaxListed, null);
        ProjectIds = page.ProjectIds;
    }
}
