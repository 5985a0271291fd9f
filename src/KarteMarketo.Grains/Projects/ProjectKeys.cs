using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace KarteMarketo.Grains.Projects;

/// <summary>
/// Project ids and project credentials (API key, webhook secret): generation, salted hashing, constant-time checks
/// and masking.
/// </summary>
/// <remarks>
/// A credential reads <c>{projectId}_{43 random characters}</c>: 32 random bytes in URL-safe base64, so it can sit in a
/// Marketo webhook URL as typed. Carrying the project id lets the front door tell "a valid key of another project"
/// (403) from "a wrong key" (401) with one cached lookup, without any index from keys to projects. The id is not a
/// secret (it is in every URL); the random part is what protects the project.
/// Hashes are SHA-256 over salt + key: a slow password hash would be pointless for 256 random bits and would cost
/// every request that presents a key.
/// </remarks>
public static partial class ProjectKeys
{
    /// <summary>Characters of the random part of a credential.</summary>
    public const int RandomLength = 43;

    private const int RandomBytes = 32;
    private const int SaltBytes = 16;

    /// <summary><c>^[A-Za-z0-9_-]{1,64}$</c> (API.md, "Conventions").</summary>
    public static bool IsValidProjectId(string? projectId) => projectId is not null && ProjectIdPattern().IsMatch(projectId);

    /// <summary>A new credential for the project, in clear. Hash it with <see cref="Hash"/> before storing it.</summary>
    public static string Generate(string projectId)
    {
        if (!IsValidProjectId(projectId)) throw new ArgumentException("not a valid project id", nameof(projectId));
        return projectId + "_" + Base64Url(RandomNumberGenerator.GetBytes(RandomBytes));
    }

    /// <summary>The project a presented credential claims to belong to, or null when it does not have the credential shape.</summary>
    public static string? ProjectIdOf(string? presented)
    {
        if (presented is null || presented.Length < RandomLength + 2 || presented.Length > 64 + 1 + RandomLength) return null;
        if (presented[^(RandomLength + 1)] != '_') return null;
        var projectId = presented[..^(RandomLength + 1)];
        if (!IsValidProjectId(projectId)) return null;
        foreach (var c in presented.AsSpan()[^RandomLength..])
        {
            if (!IsUrlSafe(c)) return null;
        }
        return projectId;
    }

    /// <summary>A fresh salt and the SHA-256 of salt + key, plus the last four characters for masking.</summary>
    public static KeyHash Hash(string secret)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        return new KeyHash(Convert.ToBase64String(Digest(salt, secret)), Convert.ToBase64String(salt), LastFour(secret));
    }

    /// <summary>Whether <paramref name="presented"/> is the secret behind <paramref name="hash"/>; compares in constant time.</summary>
    public static bool Verify(KeyHash hash, string? presented)
    {
        if (presented is null) return false;
        Span<byte> expected = stackalloc byte[SHA256.HashSizeInBytes];
        if (!Convert.TryFromBase64String(hash.Hash, expected, out var written) || written != expected.Length) return false;
        byte[] salt;
        try
        {
            salt = Convert.FromBase64String(hash.Salt);
        }
        catch (FormatException)
        {
            return false;
        }
        return CryptographicOperations.FixedTimeEquals(Digest(salt, presented), expected);
    }

    /// <summary><c>"****"</c> plus the last four characters (API.md). Secrets shorter than 8 characters show no
    /// characters at all: four of them would be half the secret or more.</summary>
    public static string Mask(string? secret) =>
        secret is null ? "****" : secret.Length >= 8 ? "****" + secret[^4..] : "****";

    /// <summary>The masked form of a hashed credential.</summary>
    public static string Mask(KeyHash hash) => "****" + hash.LastFour;

    private static string LastFour(string secret) => secret.Length >= 8 ? secret[^4..] : "";

    private static byte[] Digest(byte[] salt, string secret)
    {
        var secretBytes = Encoding.UTF8.GetBytes(secret);
        var buffer = new byte[salt.Length + secretBytes.Length];
        salt.CopyTo(buffer, 0);
        secretBytes.CopyTo(buffer, salt.Length);
        var digest = SHA256.HashData(buffer);
        CryptographicOperations.ZeroMemory(buffer);
        CryptographicOperations.ZeroMemory(secretBytes);
        return digest;
    }

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static bool IsUrlSafe(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_';

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex ProjectIdPattern();
}
