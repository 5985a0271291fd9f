using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace KarteMarketo.IntegrationTests.Infrastructure;

/// <summary>Project settings through the public API (<c>PUT/GET /v1/projects/{id}/settings</c>, admin key).</summary>
public static class ProjectSettingsClient
{
    /// <summary>Minimal valid settings pointing at <paramref name="marketo"/> (a sandbox, or a closed local port: saving
    /// only checks the credentials once and stores the settings whatever the outcome). Plain http needs the host's
    /// <c>Marketo:AllowInsecureEndpoints</c>.</summary>
    public static JsonObject Settings(string clientId, Uri marketo, string clientSecret = "sandbox-secret") => new()
    {
        ["marketo"] = new JsonObject
        {
            ["clientId"] = clientId,
            ["clientSecret"] = clientSecret,
            ["endpoint"] = new Uri(marketo, "rest").ToString(),
            ["identity"] = new Uri(marketo, "identity").ToString(),
        },
    };

    /// <summary>A local address nothing listens on: connections are refused at once.</summary>
    public static Uri ClosedLocalPort() => new($"http://127.0.0.1:{FreePort.Next()}/");

    public static async Task<JsonObject> PutAsync(HostProcess host, string projectId, JsonObject settings)
    {
        using var admin = host.CreateAdminClient();
        using var response = await admin.PutAsJsonAsync($"/v1/projects/{projectId}/settings", settings);
        return await ReadOkAsync(response, $"PUT settings of {projectId} on {host.BaseAddress}");
    }

    public static async Task<JsonObject> GetAsync(HostProcess host, string projectId)
    {
        using var admin = host.CreateAdminClient();
        using var response = await admin.GetAsync($"/v1/projects/{projectId}/settings");
        return await ReadOkAsync(response, $"GET settings of {projectId} on {host.BaseAddress}");
    }

    private static async Task<JsonObject> ReadOkAsync(HttpResponseMessage response, string what)
    {
        var body = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK)
            throw new InvalidOperationException($"{what}: {(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!.AsObject();
    }
}
