namespace KarteMarketo.Grains.Storage;

/// <summary>Names of the grain storage providers.</summary>
public static class StorageNames
{
    /// <summary>The grain storage every persistent grain but the lead keys uses (memory or PostgreSQL by mode).</summary>
    public const string Grains = "grains";

    /// <summary>The lead-key grains' storage: memory in the embedded default; in PostgreSQL mode
    /// <see cref="PostgresGroupedGrainStorage"/>, whose reads and writes of many keys at the same moment share one
    /// statement.</summary>
    public const string LeadKeys = "lead-keys";
}
