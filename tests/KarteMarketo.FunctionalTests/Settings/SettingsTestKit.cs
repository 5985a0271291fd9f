using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;

namespace KarteMarketo.FunctionalTests.FrontDoor;

/// <summary>The host for the settings tests: no retries in the Marketo client, so a credential check against an
/// unreachable endpoint fails at once instead of waiting for back-off on the test's clock.</summary>
public class SettingsAppFactory : KarteMarketoAppFactory
{
    public SettingsAppFactory()
    {
        Settings["Marketo:Client:MaxRetries"] = "0";
    }
}

internal static class SettingsTestKit
{
    /// <summary>Nothing listens on the discard port: a credential check there fails fast.</summary>
    public const string UnreachableRest = "http://127.0.0.1:9/rest";
    public const string UnreachableIdentity = "http://127.0.0.1:9/identity";

    public static JsonObject MinimalSettings(string clientSecret = "client-secret-0123456789") => new()
    {
        ["marketo"] = new JsonObject
        {
            ["clientId"] = "client-id-1",
            ["clientSecret"] = clientSecret,
            ["endpoint"] = UnreachableRest,
            ["identity"] = UnreachableIdentity,
        },
    };

    public static async Task<HttpResponseMessage> PutSettingsAsync(this HttpClient client, string projectId, JsonNode body) =>
        await client.PutAsync($"/v1/projects/{projectId}/settings",
            new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));

    public static async Task<JsonObject> PutSettingsOkAsync(this HttpClient client, string projectId, JsonNode body)
    {
        using var response = await client.PutSettingsAsync(projectId, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"PUT settings: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    public static async Task<JsonObject> GetSettingsOkAsync(this HttpClient client, string projectId)
    {
        using var response = await client.GetAsync($"/v1/projects/{projectId}/settings");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET settings: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>Asserts an RFC 9457 problem with the status, and returns it.</summary>
    public static async Task<JsonObject> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        return AssertProblemShape(response, text, (int)status);
    }

    /// <summary>Asserts a 4xx problem of any status.</summary>
    public static async Task<JsonObject> AssertClientErrorProblemAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        var status = (int)response.StatusCode;
        Assert.True(status is >= 400 and < 500, $"expected 4xx, got {status}: {text}");
        return AssertProblemShape(response, text, status);
    }

    private static JsonObject AssertProblemShape(HttpResponseMessage response, string text, int status)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(text)!.AsObject();
        Assert.Equal(status, (int)problem["status"]!);
        Assert.False(string.IsNullOrWhiteSpace((string?)problem["title"]), "problem has a title");
        Assert.False(string.IsNullOrWhiteSpace((string?)problem["detail"]), "problem has a detail");
        return problem;
    }

    /// <summary>The <c>errors</c> keys of a validation problem.</summary>
    public static IReadOnlyList<string> ErrorPaths(JsonObject problem) =>
        problem["errors"] is JsonObject errors ? errors.Select(e => e.Key).ToList() : [];

    public static string Describe(JsonObject problem) => problem.ToJsonString();
}
