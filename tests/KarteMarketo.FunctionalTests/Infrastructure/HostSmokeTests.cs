using System.Net;

namespace KarteMarketo.FunctionalTests.Infrastructure;

public sealed class HostSmokeTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    [Fact]
    public async Task Unknown_route_is_not_found()
    {
        using var client = app.CreateClient();
        using var response = await client.GetAsync("/no/such/route");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
