namespace KarteMarketo.Grains.Projects;

/// <summary>
/// Encrypts the project secrets that must be presented to others (Marketo client secret, Munchkin private key, KARTE
/// app token) before they go into grain state (API.md, "A hardened host", secrets at rest). The host implements it with
/// ASP.NET Core Data Protection.
/// </summary>
public interface ISecretProtector
{
    /// <summary>The secret as stored: a marked, encrypted payload.</summary>
    string Protect(string plaintext);

    /// <summary>The secret itself. A value without the mark is plain text written before encryption existed, and is
    /// returned as it is (the grain then rewrites it encrypted).</summary>
    string Unprotect(string stored);

    /// <summary>Whether <paramref name="stored"/> carries the mark of <see cref="Protect"/>.</summary>
    bool IsProtected(string stored);
}
