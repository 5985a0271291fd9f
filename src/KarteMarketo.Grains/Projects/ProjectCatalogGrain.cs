using KarteMarketo.Grains.Storage;

namespace KarteMarketo.Grains.Projects;

/// <summary>The list of project ids (see <see cref="IProjectCatalogGrain"/>). Reads dominate and are served from memory.</summary>
[GrainType("project-catalog")]
[Reentrant]
public sealed class ProjectCatalogGrain(
    [PersistentState("project-catalog", StorageNames.Grains)] IPersistentState<ProjectCatalogState> state) : Grain, IProjectCatalogGrain
{
    // Reentrant: concurrent adds must not write the same state twice at once.
    private readonly SemaphoreSlim _writeGate = new(1, 1);

    public async Task AddAsync(string projectId)
    {
        if (state.State.ProjectIds.Contains(projectId)) return;
        await _writeGate.WaitAsync();
        try
        {
            if (!state.State.ProjectIds.Add(projectId)) return;
            try
            {
                await state.WriteStateAsync();
            }
            catch
            {
                state.State.ProjectIds.Remove(projectId);
                throw;
            }
        }
        finally
        {
            _writeGate.Release();
        }
    }

    public Task<ProjectCatalogPage> ListAsync(int limit, string? after)
    {
        var ids = state.State.ProjectIds;
        var page = ids.Where(id => after is null || string.CompareOrdinal(id, after) > 0).Take(Math.Max(0, limit));
        return Task.FromResult(new ProjectCatalogPage([.. page], ids.Count));
    }
}

/// <summary>What <see cref="ProjectCatalogGrain"/> persists: every project id, in ordinal order.</summary>
[GenerateSerializer, Alias("KarteMarketo.ProjectCatalogState")]
public sealed class ProjectCatalogState
{
    [Id(0)] public SortedSet<string> ProjectIds { get; set; } = new(StringComparer.Ordinal);
}
