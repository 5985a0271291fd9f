namespace KarteMarketo.Grains.Storage;

/// <summary>Names of the grain storage providers.</summary>
public static class StorageNames
{
    /// <summary>The one grain storage every persistent grain uses (memory or PostgreSQL by mode).</summary>
    public const string Grains = "grains";
}
