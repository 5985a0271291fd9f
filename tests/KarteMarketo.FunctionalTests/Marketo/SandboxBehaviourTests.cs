using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.MarketoSandbox;
using Microsoft.Extensions.Time.Testing;

namespace KarteMarketo.FunctionalTests.Marketo;

/// <summary>Identity and lead-database behaviour of the sandbox over raw HTTP, as Marketo documents it.</summary>
public sealed class SandboxBehaviourTests
{
    [Fact]
    public async Task Identity_reissues_the_same_token_with_its_remaining_lifetime_and_expired_tokens_get_602()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { TokenLifetimeSeconds = 100 }, time);
        using var http = new HttpClient();
        var url = sandbox.IdentityEndpoint + $"/oauth/token?grant_type=client_credentials&client_id={sandbox.ClientId}&client_secret={sandbox.ClientSecret}";

        var first = JsonNode.Parse(await http.GetStringAsync(url))!;
        time.Advance(TimeSpan.FromSeconds(30));
        var second = JsonNode.Parse(await (await http.PostAsync(url, null)).Content.ReadAsStringAsync())!;

        Assert.Equal("bearer", first["token_type"]!.GetValue<string>());
        Assert.Equal(99, first["expires_in"]!.GetValue<long>());
        Assert.Equal(first["access_token"]!.GetValue<string>(), second["access_token"]!.GetValue<string>());
        Assert.Equal(70, second["expires_in"]!.GetValue<long>());

        time.Advance(TimeSpan.FromSeconds(70));
        var token = first["access_token"]!.GetValue<string>();
        Assert.Equal("602", (await http.RestAsync(sandbox, HttpMethod.Get, "/v1/stats/usage.json", token)).ErrorCode());
        var third = JsonNode.Parse(await http.GetStringAsync(url))!;
        Assert.NotEqual(token, third["access_token"]!.GetValue<string>());
        Assert.Equal("601", (await http.RestAsync(sandbox, HttpMethod.Get, "/v1/stats/usage.json?access_token=" +
            third["access_token"]!.GetValue<string>(), null)).ErrorCode());
    }

    [Fact]
    public async Task Wrong_credentials_get_401_with_an_OAuth_style_body()
    {
        await using var sandbox = await SandboxServer.StartAsync();
        using var http = new HttpClient();

        var response = await http.GetAsync(sandbox.IdentityEndpoint + $"/oauth/token?grant_type=client_credentials&client_id={sandbox.ClientId}&client_secret=nope");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("unauthorized", body["error"]!.GetValue<string>());
        Assert.Equal("Bad client credentials", body["error_description"]!.GetValue<string>());
    }

    [Fact]
    public async Task Lookups_enforce_300_values_known_fields_and_page_with_nextPageToken()
    {
        await using var sandbox = await SandboxServer.StartAsync();
        for (var i = 0; i < 5; i++)
        {
            sandbox.State.SeedLead($"p{i}@example.com");
        }
        using var http = new HttpClient();
        var token = await http.TokenAsync(sandbox);

        var tooMany = string.Join(',', Enumerable.Range(0, 301).Select(i => $"x{i}@e.com"));
        var form = new FormUrlEncodedContent([new("filterType", "email"), new("filterValues", tooMany)]);
        Assert.Equal("1003", (await http.RestAsync(sandbox, HttpMethod.Post, "/v1/leads.json?_method=GET", token, form)).ErrorCode());

        var unknown = await http.RestAsync(sandbox, HttpMethod.Get, "/v1/leads.json?filterType=email&filterValues=p1%40example.com&fields=email,nope", token);
        Assert.False(unknown["success"]!.GetValue<bool>());
        Assert.Equal("Field 'nope' not found", unknown["errors"]![0]!["message"]!.GetValue<string>());
        Assert.Equal("1011", (await http.RestAsync(sandbox, HttpMethod.Get, "/v1/leads.json?filterType=firstName&filterValues=x", token)).ErrorCode());

        var all = string.Join(',', Enumerable.Range(0, 5).Select(i => $"p{i}@example.com"));
        var page1 = await http.RestAsync(sandbox, HttpMethod.Get, $"/v1/leads.json?filterType=email&filterValues={Uri.EscapeDataString(all)}&batchSize=3", token);
        Assert.Equal(3, page1["result"]!.AsArray().Count);
        var next = page1["nextPageToken"]!.GetValue<string>();
        var page2 = await http.RestAsync(sandbox, HttpMethod.Get,
            $"/v1/leads.json?filterType=email&filterValues={Uri.EscapeDataString(all)}&batchSize=3&nextPageToken={Uri.EscapeDataString(next)}", token);
        Assert.Equal(2, page2["result"]!.AsArray().Count);
        Assert.Null(page2["nextPageToken"]);

        var none = await http.RestAsync(sandbox, HttpMethod.Get, "/v1/leads.json?filterType=email&filterValues=nobody%40example.com", token);
        Assert.True(none["success"]!.GetValue<bool>());
        Assert.Empty(none["result"]!.AsArray());
    }

    [Fact]
    public async Task A_cookie_sent_with_a_raw_ampersand_is_not_found_but_with_26_it_is()
    {
        await using var sandbox = await SandboxServer.StartAsync();
        const string cookie = "id:AAA-BBB-CCC&token:_mch-example.com-1418418733122-51548";
        var id = sandbox.State.SeedLeadWithCookie("a@example.com", cookie);
        using var http = new HttpClient();
        var token = await http.TokenAsync(sandbox);

        var raw = await http.RestAsync(sandbox, HttpMethod.Get, "/v1/leads.json?filterType=cookies&filterValues=" + cookie, token);
        var encoded = await http.RestAsync(sandbox, HttpMethod.Get, "/v1/leads.json?filterType=cookies&filterValues=" + cookie.Replace("&", "%26"), token);

        Assert.Equal("1012", raw.ErrorCode());
        Assert.Equal(id, encoded["result"]![0]!["id"]!.GetValue<long>());
    }

    [Fact]
    public async Task Sync_validates_types_and_json()
    {
        await using var sandbox = await SandboxServer.StartAsync();
        using var http = new HttpClient();
        var token = await http.TokenAsync(sandbox);

        var body = """{"action":"createOrUpdate","lookupField":"email","input":[{"email":"bademail"},{"email":"ok@example.com","unsubscribed":"other"},{"email":"ok2@example.com","dateOfBirth":"yesterday"},{"email":"ok3@example.com","leadScore":7}]}""";
        var result = await http.RestAsync(sandbox, HttpMethod.Post, "/v1/leads.json", token, new StringContent(body, Encoding.UTF8, "application/json"));
        var records = result["result"]!.AsArray();
        Assert.Equal(["skipped", "skipped", "skipped", "created"], records.Select(r => r!["status"]!.GetValue<string>()));
        Assert.Equal("Invalid value for field 'unsubscribed' and value 'other'", records[1]!["reasons"]![0]!["message"]!.GetValue<string>());

        var broken = await http.RestAsync(sandbox, HttpMethod.Post, "/v1/leads.json", token, new StringContent("{", Encoding.UTF8, "application/json"));
        Assert.Equal("609", broken.ErrorCode());
        var wrongType = await http.RestAsync(sandbox, HttpMethod.Post, "/v1/leads.json", token, new StringContent(body, Encoding.UTF8, "text/plain"));
        Assert.Equal("612", wrongType.ErrorCode());
    }

    [Fact]
    public async Task Faults_inject_http_errors_for_a_duration_and_forced_token_expiry()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));
        await using var sandbox = await SandboxServer.StartAsync(timeProvider: time);
        using var http = new HttpClient();
        var token = await http.TokenAsync(sandbox);
        sandbox.State.InjectFault(new SandboxFault
        {
            Kind = SandboxFaultKind.HttpError, HttpStatus = 503, Until = time.GetUtcNow().AddSeconds(5), Endpoint = SandboxEndpointNames.Usage,
        });

        using var failing = await http.GetAsync(sandbox.RestEndpoint + "/v1/stats/usage.json");
        Assert.Equal("601", (await http.RestAsync(sandbox, HttpMethod.Get, "/v1/leads/describe.json", null)).ErrorCode());
        using var request = new HttpRequestMessage(HttpMethod.Get, sandbox.RestEndpoint + "/v1/stats/usage.json");
        request.Headers.Authorization = new("Bearer", token);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.SendAsync(request)).StatusCode);
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Null((await http.RestAsync(sandbox, HttpMethod.Get, "/v1/stats/usage.json", token)).ErrorCode());

        sandbox.State.TokenExpiryEvery = TimeSpan.FromSeconds(30);
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal("602", (await http.RestAsync(sandbox, HttpMethod.Get, "/v1/stats/usage.json", token)).ErrorCode());
        var renewed = await http.TokenAsync(sandbox);
        Assert.NotEqual(token, renewed);
        Assert.Null((await http.RestAsync(sandbox, HttpMethod.Get, "/v1/stats/usage.json", renewed)).ErrorCode());
    }
}
