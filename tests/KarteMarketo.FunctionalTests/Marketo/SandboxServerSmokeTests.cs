using System.Net;
using System.Text.Json.Nodes;
using KarteMarketo.MarketoSandbox;

namespace KarteMarketo.FunctionalTests.Marketo;

public sealed class SandboxServerSmokeTests
{
    [Fact]
    public async Task Token_then_lookup_by_email_returns_the_seeded_lead_and_missing_token_gets_601()
    {
        await using var sandbox = await SandboxServer.StartAsync();
        var id = sandbox.State.SeedLead("Ann@Example.com", ("firstName", "Ann"));
        using var http = new HttpClient();

        var noToken = await http.RestAsync(sandbox, HttpMethod.Get, "/v1/leads.json?filterType=email&filterValues=ann%40example.com", null);
        Assert.Equal("601", noToken.ErrorCode());

        var token = await http.TokenAsync(sandbox);
        var found = await http.RestAsync(sandbox, HttpMethod.Get, "/v1/leads.json?filterType=email&filterValues=ann%40example.com", token);
        Assert.True(found["success"]!.GetValue<bool>());
        var lead = found["result"]![0]!;
        Assert.Equal(id, lead["id"]!.GetValue<long>());
        Assert.Equal("Ann", lead["firstName"]!.GetValue<string>());
        Assert.Null(lead["lastName"]);
        Assert.True(lead.AsObject().ContainsKey("lastName"));
        Assert.Equal(1, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads, SandboxCallCodes.Success));
        Assert.Equal(1, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads, "601"));
        Assert.Equal(1, sandbox.State.UsedToday);
    }

    [Fact]
    public async Task Control_endpoints_seed_a_lead_and_report_counters()
    {
        await using var sandbox = await SandboxServer.StartAsync();
        using var http = new HttpClient { BaseAddress = sandbox.ControlEndpoint };

        var seeded = await http.PostAsync("leads", JsonContent("""{"email":"b@example.com","fields":{"lastName":"Bee"},"cookies":["id:AAA-BBB-CCC&token:_mch-example.com-1418418733122-51548"]}"""));
        Assert.Equal(HttpStatusCode.OK, seeded.StatusCode);
        var id = JsonNode.Parse(await seeded.Content.ReadAsStringAsync())!["id"]!.GetValue<long>();
        Assert.Equal("Bee", sandbox.State.GetLead(id)!["lastName"]);
        // Edited as a Marketo user would: the next lookup sees the new value.
        Assert.Equal(HttpStatusCode.NoContent, (await http.PatchAsync($"leads/{id}", JsonContent("""{"fields":{"lastName":"Bea"}}"""))).StatusCode);
        Assert.Equal("Bea", sandbox.State.GetLead(id)!["lastName"]);
        Assert.Equal(HttpStatusCode.NotFound, (await http.PatchAsync("leads/999999", JsonContent("""{"fields":{"lastName":"X"}}"""))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.PatchAsync($"leads/{id}", JsonContent("""{"fields":{}}"""))).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await http.PutAsync("quota", JsonContent("""{"dailyQuota":5,"usedToday":2}"""))).StatusCode);
        Assert.Equal(5, sandbox.State.DailyQuota);
        Assert.Equal(2, sandbox.State.UsedToday);

        var counters = JsonNode.Parse(await http.GetStringAsync("counters"))!;
        Assert.Equal(0, counters["maxInFlight"]!.GetValue<int>());
    }

    private static StringContent JsonContent(string json) => new(json, System.Text.Encoding.UTF8, "application/json");
}
