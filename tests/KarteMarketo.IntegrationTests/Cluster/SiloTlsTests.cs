using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using KarteMarketo.IntegrationTests.Infrastructure;

namespace KarteMarketo.IntegrationTests.Cluster;

/// <summary>
/// Silo-to-silo mutual TLS (<c>Orleans:Tls:CertificatePath</c>, API.md "A hardened host") with real host processes on
/// PostgreSQL clustering: two hosts holding the cluster's certificate form one cluster and serve requests across hosts
/// over TLS; a host holding another certificate, or none, cannot join; a missing or unreadable certificate stops the
/// host at start-up. The certificates are made here, at test time (no private key is committed).
/// </summary>
public sealed class SiloTlsTests : IAsyncLifetime
{
    private const string Password = "test-pfx-password";
    private readonly string directory = Directory.CreateTempSubdirectory("kartemarketo-tls-").FullName;
    private string clusterPfx = null!;
    private string otherPfx = null!;
    private byte[] clusterThumbprint = null!;

    public Task InitializeAsync()
    {
        (clusterPfx, clusterThumbprint) = WriteSelfSigned("CN=kartemarketo-cluster", "cluster.pfx");
        (otherPfx, _) = WriteSelfSigned("CN=kartemarketo-cluster", "other.pfx"); // same name, another key: still refused
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        Directory.Delete(directory, recursive: true);
        return Task.CompletedTask;
    }

    private static HostOptions Options(TestDatabase db, string? pfx, string? password = Password) => new()
    {
        PostgresConnectionString = db.ConnectionString,
        Settings = new Dictionary<string, string?>
        {
            ["Marketo__AllowInsecureEndpoints"] = "true",
            ["Orleans__Tls__CertificatePath"] = pfx,
            ["Orleans__Tls__CertificatePassword"] = password,
            // A host that cannot reach the cluster gives up joining after this (Orleans' default is minutes).
            ["Orleans__Membership__MaxJoinAttemptTime"] = "00:00:15",
        },
    };

    [Fact]
    public async Task Hosts_with_the_cluster_certificate_form_one_cluster_over_tls_and_others_cannot_join()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        var marketo = ProjectSettingsClient.ClosedLocalPort();
        var started = await Task.WhenAll(HostProcess.StartAsync(Options(db, clusterPfx)), HostProcess.StartAsync(Options(db, clusterPfx)));
        await using var a = started[0];
        await using var b = started[1];
        Assert.Equal(2, await db.ScalarAsync<int>("SELECT count(*) FROM orleansmembershiptable WHERE status = 3"));

        // The silo port speaks TLS with the cluster's certificate.
        Assert.Equal(clusterThumbprint, await ServerCertificateThumbprintAsync(a.SiloPort));
        Assert.Equal(clusterThumbprint, await ServerCertificateThumbprintAsync(b.SiloPort));

        // Each project's grain has one activation on one of the two silos; written through one front door and read
        // through the other, one of the two calls crosses hosts (and a second activation would read a stale id).
        for (var i = 0; i < 4; i++)
        {
            var (writer, reader) = i % 2 == 0 ? (a, b) : (b, a);
            await ProjectSettingsClient.PutAsync(writer, $"tls-{i}", ProjectSettingsClient.Settings($"client-{i}", marketo));
            Assert.Equal($"client-{i}", (string)(await ProjectSettingsClient.GetAsync(reader, $"tls-{i}"))["marketo"]!["clientId"]!);
        }

        // Another certificate, and no certificate at all: the host never becomes Active and gives up.
        var intruders = await Task.WhenAll(
            Record.ExceptionAsync(() => HostProcess.StartAsync(Options(db, otherPfx))),
            Record.ExceptionAsync(() => HostProcess.StartAsync(Options(db, pfx: null, password: null))));
        foreach (var refused in intruders)
        {
            // StartAsync throws InvalidOperationException when the process exits before it is ready.
            var error = Assert.IsType<InvalidOperationException>(refused);
            Assert.Contains("exited with code", error.Message);
        }
        Assert.Equal(2, await db.ScalarAsync<int>("SELECT count(*) FROM orleansmembershiptable WHERE status = 3"));

        // The cluster carries on serving across hosts.
        await ProjectSettingsClient.PutAsync(b, "tls-0", ProjectSettingsClient.Settings("after-intruders", marketo));
        Assert.Equal("after-intruders", (string)(await ProjectSettingsClient.GetAsync(a, "tls-0"))["marketo"]!["clientId"]!);
    }

    [Fact]
    public async Task A_missing_or_unreadable_certificate_stops_the_host_at_start_up_naming_the_key()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        var notPkcs12 = Path.Combine(directory, "not-a-pfx.pfx");
        await File.WriteAllTextAsync(notPkcs12, "not a certificate");

        var cases = new (string? Pfx, string? Password, string Expected)[]
        {
            (Path.Combine(directory, "missing.pfx"), Password, "does not exist"),
            (notPkcs12, Password, "could not be read as PKCS#12"),
            (clusterPfx, "wrong-password", "could not be read as PKCS#12"),
        };
        foreach (var (pfx, password, expected) in cases)
        {
            var (code, output) = await HostProcess.RunVerbAsync(Options(db, pfx, password));
            Assert.NotEqual(0, code);
            Assert.Contains("Orleans:Tls:CertificatePath", output);
            Assert.Contains(expected, output);
            Assert.DoesNotContain(password ?? "\0", output);
        }
        // Not one of them got as far as migrating the database, let alone joining a cluster.
        Assert.True(await db.ScalarAsync<bool>("SELECT to_regclass('orleansmembershiptable') IS NULL"));
    }

    /// <summary>A TLS handshake with the silo port, presenting no client certificate; returns the certificate the
    /// silo presented (the silo then refuses this connection, which the handshake itself may or may not see).</summary>
    private static async Task<byte[]?> ServerCertificateThumbprintAsync(int port)
    {
        byte[]? seen = null;
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port);
        await using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, certificate, _, _) =>
        {
            seen = certificate?.GetCertHash(HashAlgorithmName.SHA256);
            return true;
        });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "silo" }, timeout.Token);
        }
        catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException)
        {
            // Refused for lack of a client certificate: expected; the server's certificate was seen first.
        }
        return seen;
    }

    /// <summary>A self-signed certificate usable by a silo at both ends, saved as password-protected PKCS#12.</summary>
    private (string Path, byte[] Sha256) WriteSelfSigned(string subject, string fileName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
        var path = Path.Combine(directory, fileName);
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pkcs12, Password));
        return (path, certificate.GetCertHash(HashAlgorithmName.SHA256));
    }
}
