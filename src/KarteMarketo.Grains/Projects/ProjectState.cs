namespace KarteMarketo.Grains.Projects;

/// <summary>
/// What <see cref="ProjectGrain"/> persists. Credentials are kept only as salted hashes; the Marketo client secret is
/// kept as given because the service must present it to Marketo. Replaced as a whole on every write.
/// </summary>
[GenerateSerializer, Alias("KarteMarketo.ProjectState")]
public sealed record ProjectState
{
    /// <summary>Null until the first PUT creates the project.</summary>
    [Id(0)] public ProjectSettings? Settings { get; init; }
    [Id(1)] public KeyHash? ApiKey { get; init; }
    [Id(2)] public KeyHash? WebhookSecret { get; init; }

    /// <summary>Grows by one on every write (settings or keys), so caches can tell copies apart.</summary>
    [Id(3)] public long Version { get; init; }
    [Id(4)] public DateTimeOffset CreatedAt { get; init; }
    [Id(5)] public DateTimeOffset UpdatedAt { get; init; }

    public bool Exists => Settings is not null && ApiKey is not null && WebhookSecret is not null;
}
