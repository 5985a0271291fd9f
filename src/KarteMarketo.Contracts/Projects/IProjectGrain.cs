namespace KarteMarketo.Contracts.Projects;

/// <summary>One KARTE project: its settings and its credentials (keyed <c>p:{projectId}</c>, see <see cref="GrainKeys"/>).</summary>
[Alias("KarteMarketo.IProjectGrain")]
public interface IProjectGrain : IGrainWithStringKey
{
    /// <summary>The stored settings with their key hashes, or null when the project does not exist.</summary>
    [Alias("GetAsync")]
    Task<ProjectRecord?> GetAsync();

    /// <summary>Creates or replaces the settings. Keys are generated on creation and kept afterwards;
    /// <see cref="SaveSettingsResult.IssuedKeys"/> carries them in clear only when they were just created.</summary>
    [Alias("SaveSettingsAsync")]
    Task<SaveSettingsResult> SaveSettingsAsync(ProjectSettings settings);

    /// <summary>Issues a new API key and webhook secret; the old ones stop working.
    /// Null when the project does not exist.</summary>
    [Alias("RotateKeysAsync")]
    Task<IssuedKeys?> RotateKeysAsync();
}

/// <summary>What the project grain stores: settings plus hashed credentials and a version that changes on every write.</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.ProjectRecord")]
public sealed record ProjectRecord(
    [property: Id(0)] string ProjectId,
    [property: Id(1)] ProjectSettings Settings,
    [property: Id(2)] KeyHash ApiKey,
    [property: Id(3)] KeyHash WebhookSecret,
    [property: Id(4)] long Version,
    [property: Id(5)] DateTimeOffset UpdatedAt);

/// <summary>A salted hash of a secret plus its last four characters (for masking).</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.KeyHash")]
public sealed record KeyHash([property: Id(0)] string Hash, [property: Id(1)] string Salt, [property: Id(2)] string LastFour);

/// <summary>Credentials in clear: only ever returned once, in the response that created them.</summary>
[GenerateSerializer, Immutable, Alias("KarteMarketo.IssuedKeys")]
public sealed record IssuedKeys([property: Id(0)] string ApiKey, [property: Id(1)] string WebhookSecret)
{
    public override string ToString() => "IssuedKeys { **** }";
}

[GenerateSerializer, Immutable, Alias("KarteMarketo.SaveSettingsResult")]
public sealed record SaveSettingsResult(
    [property: Id(0)] ProjectRecord Record,
    [property: Id(1)] IssuedKeys? IssuedKeys,
    [property: Id(2)] bool Created);
