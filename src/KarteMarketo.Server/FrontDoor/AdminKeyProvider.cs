using System.Security.Cryptography;

namespace KarteMarketo.Server.FrontDoor;

/// <summary>
/// The admin key (API.md, "Auth"): <c>Auth:AdminKey</c> when configured; in Development, when unset, a key generated
/// at start-up (printed once by the embedded start-up banner). Outside Development an unset key stops the host from
/// starting, and so does one shorter than 32 characters, so a production host can never run with no admin key or with a
/// guessable one.
/// </summary>
public sealed class AdminKeyProvider
{
    public const string ConfigurationKey = "Auth:AdminKey";

    /// <summary>Shortest admin key accepted outside Development (API.md, "A hardened host").</summary>
    public const int MinimumLength = 32;

    private AdminKeyProvider(string adminKey, bool isGenerated)
    {
        AdminKey = adminKey;
        IsGenerated = isGenerated;
    }

    /// <summary>The key that admin requests must present as <c>Authorization: Bearer</c>. A secret: never log it.</summary>
    public string AdminKey { get; }

    /// <summary>True when no key was configured and this one was generated for this process (Development only).</summary>
    public bool IsGenerated { get; }

    public static AdminKeyProvider Create(IConfiguration configuration, IHostEnvironment environment)
    {
        var configured = configuration[ConfigurationKey];
        if (!string.IsNullOrWhiteSpace(configured))
        {
            if (configured.Length < MinimumLength && !environment.IsDevelopment())
                throw new InvalidOperationException(
                    $"{ConfigurationKey} is shorter than {MinimumLength} characters; outside Development it must be a long random secret (e.g. openssl rand -hex 24).");
            return new AdminKeyProvider(configured, isGenerated: false);
        }
        if (!environment.IsDevelopment())
            throw new InvalidOperationException(
                $"{ConfigurationKey} (env Auth__AdminKey) is required outside Development; set it to a long random secret.");
        return new AdminKeyProvider(GenerateKey(), isGenerated: true);
    }

    /// <summary>Compares a presented key with the admin key in constant time.</summary>
    public bool Matches(string? presented) =>
        // Hashing first makes both sides the same length, so not even the key's length leaks through timing.
        presented is not null &&
        CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(presented)),
            SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(AdminKey)));

    /// <summary>Never print the key by accident.</summary>
    public override string ToString() => "AdminKeyProvider { **** }";

    private static string GenerateKey() =>
        "adm_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
