using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KarteMarketo.IntegrationTests.Infrastructure;

namespace KarteMarketo.IntegrationTests.Outbox;

/// <summary>
/// A sandbox process with 1,000 leads and one custom activity type, a project pointing at it, and helpers to send
/// KARTE events and to read what the sandbox stored.
/// </summary>
internal sealed class OutboxFlow(SandboxProcess sandbox, int activityTypeId)
{
    public const string ProjectId = "outbox-it";
    public const int Count = 1000;

    public SandboxProcess Sandbox { get; } = sandbox;
    public int ActivityTypeId { get; } = activityTypeId;

    public static string Email(int i) => $"buyer{i}@example.com";

    /// <summary>Host settings: http sandbox allowed, short back-offs so a 30 s outage is retried within seconds.</summary>
    public static HostOptions HostOptions(string connectionString, int siloPort, int gatewayPort, int httpPort) => new()
    {
        PostgresConnectionString = connectionString,
        SiloPort = siloPort,
        GatewayPort = gatewayPort,
        HttpPort = httpPort,
        Settings = new Dictionary<string, string?>
        {
            ["Marketo__AllowInsecureEndpoints"] = "true",
            ["Outbox__InitialBackoff"] = "00:00:02",
            ["Outbox__MaxBackoff"] = "00:00:08",
            ["Outbox__MaxAttempts"] = "50",
            ["Outbox__ScanInterval"] = "00:00:05",
        },
    };

    public static async Task<OutboxFlow> StartSandboxAsync(int leads = Count)
    {
        var sandbox = await SandboxProcess.StartAsync();
        using var http = new HttpClient { BaseAddress = sandbox.BaseAddress };
        using var type = await http.PostAsJsonAsync("/_sandbox/activity-types",
            new { apiName = "karte_purchase", name = "KARTE purchase", primaryAttribute = "itemName", attributes = new[] { "price" } });
        type.EnsureSuccessStatusCode();
        var typeId = JsonNode.Parse(await type.Content.ReadAsStringAsync())!["id"]!.GetValue<int>();
        for (var i = 0; i < leads; i++)
        {
            using var lead = await http.PostAsJsonAsync("/_sandbox/leads", new { email = Email(i) });
            lead.EnsureSuccessStatusCode();
        }
        return new OutboxFlow(sandbox, typeId);
    }

    public async Task CreateProjectAsync(HostProcess host)
    {
        var settings = new JsonObject
        {
            ["marketo"] = new JsonObject
            {
                ["clientId"] = "sandbox-client",
                ["clientSecret"] = "sandbox-secret",
                ["endpoint"] = new Uri(Sandbox.BaseAddress, "rest").ToString(),
                ["identity"] = new Uri(Sandbox.BaseAddress, "identity").ToString(),
            },
            ["activityMappings"] = new JsonArray(new JsonObject
            {
                ["event"] = "purchase",
                ["activityTypeId"] = ActivityTypeId,
                ["primaryAttribute"] = "item_name",
                ["attributes"] = new JsonObject { ["price"] = "amount" },
            }),
        };
        var created = await ProjectSettingsClient.PutAsync(host, ProjectId, settings);
        ApiKey = (string)created["apiKey"]!;
        WebhookSecret = (string)created["webhookSecret"]!;
    }

    public string ApiKey { get; private set; } = "";

    public string WebhookSecret { get; private set; } = "";

    /// <summary>Sends the 1,000 purchases (10 requests of 100) and checks each is answered 202 with all accepted.</summary>
    public async Task SendPurchasesAsync(HostProcess host)
    {
        using var client = host.CreateClient(ApiKey);
        foreach (var chunk in Enumerable.Range(0, Count).Chunk(100))
        {
            var body = new JsonArray([.. chunk.Select(i => (JsonNode)new JsonObject
            {
                ["id"] = $"evt-{i}",
                ["userId"] = $"u-{i}",
                ["email"] = Email(i),
                ["event"] = "purchase",
                ["values"] = new JsonObject { ["item_name"] = $"item-{i}", ["amount"] = i },
            })]);
            using var response = await client.PostAsJsonAsync($"/v1/projects/{ProjectId}/webhooks/karte", body);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode} {text}");
            Assert.Equal(chunk.Length, JsonNode.Parse(text)!["accepted"]!.GetValue<int>());
        }
    }

    public async Task<JsonObject> CountersAsync()
    {
        using var http = new HttpClient { BaseAddress = Sandbox.BaseAddress };
        return JsonNode.Parse(await http.GetStringAsync("/_sandbox/counters"))!.AsObject();
    }

    /// <summary>The primary attribute values of every activity the sandbox stored (one per add, repeats included).</summary>
    public async Task<List<string>> AddedItemsAsync() =>
        (await CountersAsync())["activitiesAdded"]!.AsArray().Select(a => a!["primaryAttributeValue"]!.GetValue<string>()).ToList();

    public async Task InjectFaultAsync(object fault)
    {
        using var http = new HttpClient { BaseAddress = Sandbox.BaseAddress };
        using var response = await http.PostAsJsonAsync("/_sandbox/faults", fault);
        response.EnsureSuccessStatusCode();
    }

    public async Task ClearFaultsAsync()
    {
        using var http = new HttpClient { BaseAddress = Sandbox.BaseAddress };
        using var response = await http.DeleteAsync("/_sandbox/faults");
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Polls (real time: these are real processes) until <paramref name="done"/> holds or <paramref name="limit"/> passes.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> done, TimeSpan limit, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!await done())
        {
            if (watch.Elapsed > limit) throw new TimeoutException($"{what}: not done after {limit.TotalSeconds:0}s");
            await Task.Delay(100);
        }
    }

    /// <summary>Asserts every purchase was added exactly once.</summary>
    public static void AssertEachOnce(IReadOnlyCollection<string> items)
    {
        var duplicates = items.GroupBy(i => i).Where(g => g.Count() > 1).Select(g => $"{g.Key} x{g.Count()}").ToList();
        Assert.True(duplicates.Count == 0, $"added more than once: {string.Join(", ", duplicates.Take(20))}");
        Assert.Equal(Enumerable.Range(0, Count).Select(i => $"item-{i}").Order(), items.Order());
    }
}
