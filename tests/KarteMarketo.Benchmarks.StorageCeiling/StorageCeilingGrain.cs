namespace KarteMarketo.Benchmarks.StorageCeiling;

/// <summary>A grain whose only work is one state write per call.</summary>
[Alias("KarteMarketo.Benchmarks.IStorageCeilingGrain")]
public interface IStorageCeilingGrain : IGrainWithStringKey
{
    /// <summary>Sets the state (a linked user and a window start, about the size of a new lead key's) and writes it.</summary>
    [Alias("WriteAsync")]
    Task WriteAsync(string userId, string email);
}

/// <summary>About what a new lead key stores: one linked user, a window start and a pending outcome.</summary>
[GenerateSerializer]
public sealed class StorageCeilingState
{
    [Id(0)] public List<string> LinkedUsers { get; set; } = [];
    [Id(1)] public string? Email { get; set; }
    [Id(2)] public DateTimeOffset? LastRequestAt { get; set; }
    [Id(3)] public int LastResult { get; set; }
}

/// <summary>Orleans' ADO.NET storage: one statement per read and per write.</summary>
[GrainType("storage-ceiling")]
public sealed class StorageCeilingGrain(
    [PersistentState("storage-ceiling-state", "grains")] IPersistentState<StorageCeilingState> state)
    : StorageCeilingGrainBase(state), IStorageCeilingGrain;

/// <summary>The lead keys' storage (<c>PostgresGroupedGrainStorage</c>): reads and writes of the same moment share a
/// statement.</summary>
[Alias("KarteMarketo.Benchmarks.IGroupedStorageCeilingGrain")]
public interface IGroupedStorageCeilingGrain : IStorageCeilingGrain;

[GrainType("grouped-storage-ceiling")]
public sealed class GroupedStorageCeilingGrain(
    [PersistentState("storage-ceiling-state", "grouped")] IPersistentState<StorageCeilingState> state)
    : StorageCeilingGrainBase(state), IGroupedStorageCeilingGrain;

public abstract class StorageCeilingGrainBase(IPersistentState<StorageCeilingState> state) : Grain
{
    public async Task WriteAsync(string userId, string email)
    {
        state.State.LinkedUsers = [userId];
        state.State.Email = email;
        state.State.LastRequestAt = DateTimeOffset.UtcNow;
        await state.WriteStateAsync();
    }
}
