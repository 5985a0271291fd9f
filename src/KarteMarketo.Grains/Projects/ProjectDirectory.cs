using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;

namespace KarteMarketo.Grains.Projects;

/// <summary>
/// This silo's copy of every project record it was asked about. A copy is used for <see cref="TimeToLive"/> and then
/// fetched again from the <see cref="IProjectGrain"/>, so a change made on any silo is seen everywhere within that
/// time; a write on this silo drops the local copy at once (<see cref="Invalidate"/>). In the steady state a request
/// costs no grain call. Unknown projects are cached too (as null), so requests naming made-up projects cannot turn
/// into a grain call each.
/// </summary>
public sealed class ProjectDirectory : IProjectDirectory
{
    public static readonly TimeSpan DefaultTimeToLive = TimeSpan.FromSeconds(3);

    /// <summary>Above this many entries, expired ones are dropped (at most once per <see cref="TimeToLive"/>).</summary>
    internal const int PruneThreshold = 10_000;

    private readonly Func<string, Task<ProjectRecord?>> _load;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Slot> _slots = new(StringComparer.Ordinal);
    private long _lastPrune;

    [ActivatorUtilitiesConstructor]
    public ProjectDirectory(IGrainFactory grains, TimeProvider time)
        : this(projectId => grains.GetGrain<IProjectGrain>(GrainKeys.Project(projectId)).GetAsync(), time, DefaultTimeToLive)
    {
    }

    /// <summary>For tests: any loader, any clock.</summary>
    internal ProjectDirectory(Func<string, Task<ProjectRecord?>> load, TimeProvider time, TimeSpan timeToLive)
    {
        _load = load;
        _time = time;
        TimeToLive = timeToLive;
        _lastPrune = time.GetTimestamp();
    }

    public TimeSpan TimeToLive { get; }

    /// <summary>How many projects (known or unknown) this silo holds a copy of.</summary>
    internal int Count => _slots.Count;

    public ValueTask<ProjectRecord?> GetAsync(string projectId, CancellationToken cancellationToken = default) =>
        GetAsync(projectId, TimeToLive, cancellationToken);

    public ValueTask<ProjectRecord?> GetAsync(string projectId, TimeSpan maxAge, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(projectId);
        var now = _time.GetTimestamp();
        var slot = _slots.AddOrUpdate(
            projectId,
            static (_, now) => new Slot(now),
            (_, existing, now) => existing.IsUsable(_time, now, maxAge) ? existing : new Slot(now),
            now);

        // Only the slot that won the race starts a load: Lazy runs the loader once.
        var isNew = !slot.LoadStarted;
        var load = slot.Load(_load, projectId);
        if (isNew) PruneIfLarge(now);
        if (load.IsCompletedSuccessfully) return new ValueTask<ProjectRecord?>(load.Result);
        return AwaitAsync(projectId, slot, load, cancellationToken);
    }

    public void Invalidate(string projectId) => _slots.TryRemove(projectId, out _);

    private async ValueTask<ProjectRecord?> AwaitAsync(string projectId, Slot slot, Task<ProjectRecord?> load,
        CancellationToken cancellationToken)
    {
        try
        {
            return await load.WaitAsync(cancellationToken);
        }
        catch when (load.IsFaulted)
        {
            // A failed fetch is not an answer: the next request tries again.
            _slots.TryRemove(new KeyValuePair<string, Slot>(projectId, slot));
            throw;
        }
    }

    private void PruneIfLarge(long now)
    {
        if (_slots.Count <= PruneThreshold) return;
        var last = Interlocked.Read(ref _lastPrune);
        if (_time.GetElapsedTime(last, now) < TimeToLive) return;
        if (Interlocked.CompareExchange(ref _lastPrune, now, last) != last) return;
        foreach (var (key, slot) in _slots)
        {
            if (!slot.IsUsable(_time, now, TimeToLive)) _slots.TryRemove(new KeyValuePair<string, Slot>(key, slot));
        }
    }

    private sealed class Slot(long fetchedAt)
    {
        private Lazy<Task<ProjectRecord?>>? _lazy;

        public long FetchedAt { get; } = fetchedAt;

        public bool LoadStarted => Volatile.Read(ref _lazy) is not null;

        public Task<ProjectRecord?> Load(Func<string, Task<ProjectRecord?>> loader, string projectId)
        {
            var lazy = LazyInitializer.EnsureInitialized(ref _lazy,
                () => new Lazy<Task<ProjectRecord?>>(() => loader(projectId), LazyThreadSafetyMode.ExecutionAndPublication));
            return lazy.Value;
        }

        /// <summary>Fresh enough and not failed. A load still running counts as fresh: waiting for it beats starting another.</summary>
        public bool IsUsable(TimeProvider time, long now, TimeSpan maxAge)
        {
            if (_lazy is { IsValueCreated: true, Value.IsFaulted: true }) return false;
            return time.GetElapsedTime(FetchedAt, now) < maxAge;
        }
    }
}

public static class ProjectDirectoryServiceCollectionExtensions
{
    /// <summary>Registers the per-silo <see cref="IProjectDirectory"/>.</summary>
    public static IServiceCollection AddProjectDirectory(this IServiceCollection services)
    {
        services.AddSingleton<ProjectDirectory>();
        services.AddSingleton<IProjectDirectory>(sp => sp.GetRequiredService<ProjectDirectory>());
        return services;
    }
}
