using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.MarketoSandbox;
using Microsoft.Extensions.DependencyInjection;

namespace KarteMarketo.FunctionalTests.Marketo;

/// <summary>The embedded default (no PostgreSQL) mounts the sandbox at /sandbox/marketo on the host's clock.</summary>
public sealed class EmbeddedSandboxTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    [Fact]
    public async Task The_sandbox_answers_under_sandbox_marketo_in_the_embedded_host()
    {
        using var http = app.CreateClient();
        var state = app.Services.GetRequiredService<SandboxState>();
        var id = state.SeedLead("embedded@example.com");

        var tokenResponse = await http.GetAsync("/sandbox/marketo/identity/oauth/token?grant_type=client_credentials&client_id=" +
            state.Options.ClientId + "&client_secret=" + state.Options.ClientSecret);
        Assert.Equal(HttpStatusCode.OK, tokenResponse.StatusCode);
        var token = JsonNode.Parse(await tokenResponse.Content.ReadAsStringAsync())!["access_token"]!.GetValue<string>();

        using var request = new HttpRequestMessage(HttpMethod.Get,
            "/sandbox/marketo/rest/v1/leads.json?filterType=email&filterValues=embedded%40example.com");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var lookup = JsonNode.Parse(await (await http.SendAsync(request)).Content.ReadAsStringAsync())!;

        Assert.Equal(id, lookup["result"]![0]!["id"]!.GetValue<long>());
        Assert.Same(app.Time, state.Time);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/sandbox/marketo/_sandbox/counters")).StatusCode);
    }
}
