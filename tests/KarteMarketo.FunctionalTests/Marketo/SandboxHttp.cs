using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using KarteMarketo.MarketoSandbox;

namespace KarteMarketo.FunctionalTests.Marketo;

/// <summary>Raw HTTP helpers for sandbox tests (what Marketo's wire looks like, without our client).</summary>
internal static class SandboxHttp
{
    public static async Task<string> TokenAsync(this HttpClient http, SandboxServer sandbox)
    {
        var response = await http.GetAsync(new Uri(sandbox.IdentityEndpoint + "/oauth/token?grant_type=client_credentials&client_id=" +
            Uri.EscapeDataString(sandbox.ClientId) + "&client_secret=" + Uri.EscapeDataString(sandbox.ClientSecret)));
        response.EnsureSuccessStatusCode();
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        return body["access_token"]!.GetValue<string>();
    }

    public static async Task<JsonObject> RestAsync(this HttpClient http, SandboxServer sandbox, HttpMethod method, string pathAndQuery,
        string? token, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(sandbox.RestEndpoint + pathAndQuery)) { Content = content };
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        using var response = await http.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
    }

    public static string? ErrorCode(this JsonObject body) => body["errors"]?[0]?["code"]?.GetValue<string>();
}
