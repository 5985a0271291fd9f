using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;

namespace KarteMarketo.Server.Hosting;

/// <summary>
/// Silo-to-silo mutual TLS (API.md, "A hardened host"): <c>Orleans:Tls:CertificatePath</c> names a PKCS#12 file
/// (+ <c>Orleans:Tls:CertificatePassword</c>) holding this silo's certificate and private key, and the certificate
/// authority the cluster trusts: the self-signed certificates in the same file (a single self-signed certificate
/// shared by every host is its own authority). Every silo connection, both ways, presents that certificate and
/// accepts a peer only when the peer's certificate chains to one of those authorities. Nothing else is trusted,
/// not even the machine's public roots: any public certificate would otherwise open the cluster.
/// </summary>
public static class SiloTls
{
    public const string CertificatePathKey = "Orleans:Tls:CertificatePath";
    public const string CertificatePasswordKey = "Orleans:Tls:CertificatePassword";

    private const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";

    /// <summary>The certificate and trust anchors from configuration; null when TLS is not configured.
    /// Throws <see cref="InvalidOperationException"/> (naming the key, never the password) when the file is missing,
    /// unreadable, has no private key, has expired, may not authenticate both ends, or brings no authority.</summary>
    public static SiloTlsCredentials? Load(IConfiguration configuration, TimeProvider time)
    {
        if (configuration[CertificatePathKey] is not { Length: > 0 } path) return null;
        if (!File.Exists(path))
            throw new InvalidOperationException($"{CertificatePathKey}: '{path}' does not exist; silo-to-silo TLS needs a PKCS#12 (.pfx) file.");

        X509Certificate2Collection all;
        try
        {
            all = X509CertificateLoader.LoadPkcs12CollectionFromFile(path, configuration[CertificatePasswordKey],
                // Ephemeral: the private key is never written to a key store on disk (and works as a non-root user).
                X509KeyStorageFlags.EphemeralKeySet);
        }
        catch (CryptographicException e)
        {
            // The exception text says whether the password or the format was wrong; it never holds the password.
            throw new InvalidOperationException(
                $"{CertificatePathKey}: '{path}' could not be read as PKCS#12 with {CertificatePasswordKey} ({e.Message}).", e);
        }

        var local = all.FirstOrDefault(c => c.HasPrivateKey)
            ?? throw new InvalidOperationException($"{CertificatePathKey}: '{path}' holds no certificate with a private key.");
        var now = time.GetUtcNow();
        if (local.NotAfter.ToUniversalTime() <= now.UtcDateTime || local.NotBefore.ToUniversalTime() > now.UtcDateTime)
            throw new InvalidOperationException(
                $"{CertificatePathKey}: the certificate {local.Subject} is valid only from {local.NotBefore:u} to {local.NotAfter:u}.");
        if (!AllowsBothEnds(local))
            throw new InvalidOperationException(
                $"{CertificatePathKey}: the certificate {local.Subject} must allow both server and client authentication (extended key usage), since every silo is both.");

        var anchors = new X509Certificate2Collection();
        var intermediates = new X509Certificate2Collection();
        foreach (var certificate in all)
        {
            if (IsSelfSigned(certificate)) anchors.Add(certificate);
            else if (!ReferenceEquals(certificate, local)) intermediates.Add(certificate);
        }
        if (anchors.Count == 0)
            throw new InvalidOperationException(
                $"{CertificatePathKey}: '{path}' holds no self-signed certificate to trust: add the certificate authority that issues the silos' certificates, or use one self-signed certificate on every host.");

        var credentials = new SiloTlsCredentials(local, anchors, intermediates);
        // A certificate that would not pass its own peers' check is a configuration error, found now, not on the first call.
        if (!credentials.Trusts(local))
            throw new InvalidOperationException(
                $"{CertificatePathKey}: the certificate {local.Subject} does not chain to a certificate authority in the same file.");
        return credentials;
    }

    /// <summary>Mutual TLS on every silo connection (silo in and out, and the gateway where one is open).</summary>
    public static ISiloBuilder UseMutualTls(this ISiloBuilder silo, SiloTlsCredentials credentials) =>
        silo.UseTls(credentials.Certificate, options =>
        {
            options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            // Outbound too: this silo must present its certificate, or the peer (which requires it) refuses.
            options.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
            // Set, so Orleans leaves the decision to us instead of the machine's trust store and host-name rules:
            // silos reach each other by IP address, and what identifies a peer is the authority that issued its certificate.
            options.RemoteCertificateValidation = (peer, _, errors) =>
                (errors & SslPolicyErrors.RemoteCertificateNotAvailable) == 0 && credentials.Trusts(peer);
        });

    private static bool AllowsBothEnds(X509Certificate2 certificate)
    {
        var usages = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault();
        if (usages is null) return true; // no extended key usage: any use is allowed
        var oids = usages.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value).ToHashSet();
        return oids.Contains(ServerAuthOid) && oids.Contains(ClientAuthOid);
    }

    private static bool IsSelfSigned(X509Certificate2 certificate) =>
        certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData);
}

/// <summary>This silo's certificate and the authorities a peer's certificate must chain to.</summary>
public sealed class SiloTlsCredentials
{
    private readonly X509Certificate2Collection _anchors;
    private readonly X509Certificate2Collection _intermediates;

    internal SiloTlsCredentials(X509Certificate2 certificate, X509Certificate2Collection anchors, X509Certificate2Collection intermediates)
    {
        Certificate = certificate;
        _anchors = anchors;
        _intermediates = intermediates;
    }

    /// <summary>This silo's certificate (with its private key).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>True when <paramref name="peer"/> chains to one of the configured authorities and is within its dates.</summary>
    public bool Trusts(X509Certificate2 peer)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_anchors);
        chain.ChainPolicy.ExtraStore.AddRange(_intermediates);
        // Private cluster authorities publish no revocation lists; replacing the file (and the authority) is how a
        // certificate is withdrawn.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        try
        {
            return chain.Build(peer);
        }
        finally
        {
            foreach (var element in chain.ChainElements) element.Certificate.Dispose();
        }
    }
}
