namespace KarteMarketo.Contracts.Projects;

/// <summary>
/// The ids of every project (one activation in the cluster, keyed <see cref="GrainKeys.ProjectCatalog"/>), for the
/// admin console's project list. Each <see cref="IProjectGrain"/> registers itself when it is created and whenever it
/// activates with stored settings, so projects created before the catalog existed appear once they are used.
/// </summary>
[Alias("KarteMarketo.IProjectCatalogGrain")]
public interface IProjectCatalogGrain : IGrainWithStringKey
{
    /// <summary>Records a project id (idempotent; a known id costs no write).</summary>
    [Alias("AddAsync")]
    Task AddAsync(string projectId);

    /// <summary>Project ids in ordinal order, at most <paramref name="limit"/>, after <paramref name="after"/> (exclusive).</summary>
    [Alias("ListAsync")]
    Task<ProjectCatalogPage> ListAsync(int limit, string? after);
}

/// <summary>One page of project ids, with the total count.</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.ProjectCatalogPage")]
public sealed record ProjectCatalogPage([property: Id(0)] IReadOnlyList<string> ProjectIds, [property: Id(1)] int Count);
