using KarteMarketo.Grains.Storage;

namespace KarteMarketo.Server.Hosting;

/// <summary>
/// The sandboxes are for demos (API.md, "A hardened host"): <c>Sandbox:Enabled</c> and <c>Demo:Enabled</c> default to
/// true only in the embedded default (no PostgreSQL) under Development; anywhere else they must be asked for.
/// </summary>
public static class DemoDefaults
{
    /// <summary>Whether <c>/sandbox/marketo</c> (a Marketo stand-in with an unauthenticated control API) is mounted.</summary>
    public static bool SandboxEnabled(IConfiguration configuration, IHostEnvironment environment, AppStorageOptions storage) =>
        configuration.GetValue<bool?>("Sandbox:Enabled") ?? IsEmbeddedDevelopment(environment, storage);

    /// <summary>Whether the embedded default creates project <c>demo</c> pointing at its sandbox.</summary>
    public static bool DemoEnabled(IConfiguration configuration, IHostEnvironment environment, AppStorageOptions storage) =>
        configuration.GetValue<bool?>("Demo:Enabled") ?? IsEmbeddedDevelopment(environment, storage);

    private static bool IsEmbeddedDevelopment(IHostEnvironment environment, AppStorageOptions storage) =>
        !storage.UsesPostgres && environment.IsDevelopment();
}
