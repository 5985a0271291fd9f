using KarteMarketo.Contracts.Projects;

namespace KarteMarketo.Grains.Projects;

/// <summary>
/// The per-silo cache of project records, so that checking a key or reading settings costs no grain call per
/// request. A change made through the <see cref="IProjectGrain"/> reaches every silo within seconds.
/// </summary>
public interface IProjectDirectory
{
    /// <summary>The project's record, or null when it does not exist.</summary>
    ValueTask<ProjectRecord?> GetAsync(string projectId, CancellationToken cancellationToken = default);

    /// <summary>As <see cref="GetAsync(string, CancellationToken)"/>, but a cached copy older than
    /// <paramref name="maxAge"/> is fetched again first (<see cref="TimeSpan.Zero"/>: always fetch).</summary>
    ValueTask<ProjectRecord?> GetAsync(string projectId, TimeSpan maxAge, CancellationToken cancellationToken = default);

    /// <summary>Drops this silo's cached copy (called after a local write).</summary>
    void Invalidate(string projectId);
}
