using System.Security.Cryptography.X509Certificates;
using KarteMarketo.Grains.Projects;
using KarteMarketo.Grains.Storage;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;

namespace KarteMarketo.Server.Secrets;

/// <summary>
/// Secrets at rest (API.md, "A hardened host"): project secrets are encrypted with ASP.NET Core Data Protection before
/// they reach grain state. The key ring lives in PostgreSQL (shared by every host) in PostgreSQL mode and in memory in
/// the embedded default (whose state is in memory too); <c>Secrets:KeyEncryptionCertificatePath</c>
/// (+ <c>Secrets:KeyEncryptionCertificatePassword</c>) encrypts the keys themselves with a certificate.
/// </summary>
public static class SecretsAtRest
{
    public const string CertificatePathKey = "Secrets:KeyEncryptionCertificatePath";
    public const string CertificatePasswordKey = "Secrets:KeyEncryptionCertificatePassword";

    public static WebApplicationBuilder AddSecretsAtRest(this WebApplicationBuilder builder, AppStorageOptions storage)
    {
        var configuration = builder.Configuration;
        var dataProtection = builder.Services.AddDataProtection()
            // One name for every host, so a key ring written by one host decrypts on all of them.
            .SetApplicationName("KarteMarketo");
        if (storage.UsesPostgres)
        {
            var connectionString = storage.PostgresConnectionString!;
            builder.Services.Configure<KeyManagementOptions>(o => o.XmlRepository = new PostgresXmlRepository(connectionString));
        }
        else
        {
            builder.Services.Configure<KeyManagementOptions>(o => o.XmlRepository = new InMemoryXmlRepository());
        }

        if (configuration[CertificatePathKey] is { Length: > 0 } path)
        {
            var certificate = X509CertificateLoader.LoadPkcs12FromFile(path, configuration[CertificatePasswordKey]);
            if (!certificate.HasPrivateKey)
                throw new InvalidOperationException($"{CertificatePathKey}: the certificate has no private key; keys could not be decrypted.");
            dataProtection.ProtectKeysWithCertificate(certificate).UnprotectKeysWithAnyCertificate(certificate);
        }

        builder.Services.AddSingleton<ISecretProtector, DataProtectionSecretProtector>();
        return builder;
    }
}

/// <summary><see cref="ISecretProtector"/> over Data Protection, with one purpose for project secrets.</summary>
internal sealed class DataProtectionSecretProtector(IDataProtectionProvider provider) : ISecretProtector
{
    /// <summary>Marks an encrypted value; anything without it is plain text from before encryption.</summary>
    public const string Mark = "dp1:";

    private readonly IDataProtector _protector = provider.CreateProtector("KarteMarketo.ProjectSecrets.v1");

    public string Protect(string plaintext) => Mark + _protector.Protect(plaintext);

    public string Unprotect(string stored) =>
        IsProtected(stored) ? _protector.Unprotect(stored[Mark.Length..]) : stored;

    public bool IsProtected(string stored) => stored.StartsWith(Mark, StringComparison.Ordinal);
}

/// <summary>The embedded default's key ring: in memory, like everything else there.</summary>
internal sealed class InMemoryXmlRepository : Microsoft.AspNetCore.DataProtection.Repositories.IXmlRepository
{
    private readonly List<System.Xml.Linq.XElement> _elements = [];

    public IReadOnlyCollection<System.Xml.Linq.XElement> GetAllElements()
    {
        lock (_elements) return [.. _elements.Select(e => new System.Xml.Linq.XElement(e))];
    }

    public void StoreElement(System.Xml.Linq.XElement element, string friendlyName)
    {
        lock (_elements) _elements.Add(new System.Xml.Linq.XElement(element));
    }
}
