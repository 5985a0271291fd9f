using System.Net;
using KarteMarketo.FunctionalTests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using static KarteMarketo.FunctionalTests.FrontDoor.SettingsTestKit;

namespace KarteMarketo.FunctionalTests.FrontDoor;

/// <summary>Configuration outside Development (API.md, "Configuration"): the admin key is required, and plain-http
/// Marketo endpoints are refused unless <c>Marketo:AllowInsecureEndpoints</c> says otherwise.</summary>
public sealed class HostConfigurationTests
{
    private sealed class ProductionFactory(string? adminKey, string? allowInsecure) : SettingsAppFactory
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.UseEnvironment("Production");
            builder.UseSetting("Auth:AdminKey", adminKey ?? "");
            // The base factory allows http; here the host's own default (false outside Development) decides unless set.
            builder.UseSetting("Marketo:AllowInsecureEndpoints", allowInsecure ?? "");
        }
    }

    [Fact]
    public void Outside_development_the_host_refuses_to_start_without_an_admin_key()
    {
        using var factory = new ProductionFactory(adminKey: null, allowInsecure: null);

        var error = Record.Exception(() => factory.CreateClient());

        Assert.NotNull(error);
        Assert.Contains("Auth:AdminKey", error.ToString());
    }

    [Fact]
    public async Task Outside_development_plain_http_endpoints_are_refused_by_default()
    {
        await using var factory = new ProductionFactory(KarteMarketoAppFactory.AdminKey, allowInsecure: null);
        using var admin = factory.CreateAdminClient();

        using var response = await admin.PutSettingsAsync("prod-http", MinimalSettings());

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(new[] { "marketo.endpoint", "marketo.identity" }, ErrorPaths(problem).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Plain_http_can_be_allowed_by_configuration()
    {
        await using var factory = new ProductionFactory(KarteMarketoAppFactory.AdminKey, allowInsecure: "true");
        using var admin = factory.CreateAdminClient();

        var saved = await admin.PutSettingsOkAsync("prod-http-ok", MinimalSettings());

        Assert.Equal(UnreachableRest, (string)saved["marketo"]!["endpoint"]!);
    }
}
