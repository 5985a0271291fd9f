namespace KarteMarketo.Marketo.Outbound;

/// <summary>
/// Guards for every call this service makes to a URL a project configured (Marketo, KARTE, the credential check):
/// bound from <c>Outbound</c> (API.md, "A hardened host").
/// </summary>
public sealed class OutboundOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Outbound";

    /// <summary>Largest response body read from a remote (16 MiB); a larger one is cut off as an error.</summary>
    public const long DefaultMaxResponseBytes = 16L * 1024 * 1024;

    /// <summary>
    /// Whether loopback, private, link-local (cloud metadata) and other non-public addresses may be reached
    /// (<c>Outbound:AllowPrivateAddresses</c>). Defaults to <c>true</c> in Development and <c>false</c> elsewhere; tests
    /// that point projects at a sandbox on the loopback set it.
    /// </summary>
    public bool AllowPrivateAddresses { get; set; }

    /// <summary>Largest response body (<c>Outbound:MaxResponseBytes</c>, default 16 MiB).</summary>
    public long MaxResponseBytes { get; set; } = DefaultMaxResponseBytes;
}
