using System.Text.Json.Nodes;

namespace KarteMarketo.ConsoleTests;

/// <summary>The sync status counts and last errors, the resync button with its estimate, and the KARTE connection check
/// on the settings page, with traffic sent through the API.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class SyncStatusResyncKarteTests(ConsoleFixture fixture)
{
    private ConsoleHost Host => fixture.Host;

    [Fact]
    public async Task Identifies_to_found_and_unknown_leads_and_a_failed_lookup_change_the_counts_and_the_last_errors()
    {
        const string project = "status-counts";
        var apiKey = await Host.CreateProjectAsync(project);
        await Host.SeedLeadAsync("dora@status-counts.example", "Dora");
        await using var session = await fixture.OpenAsync();
        await session.SignInAsync();
        var page = session.Page;

        await session.GotoAsync($"/admin/projects/{project}/status");
        foreach (var result in new[] { "synced", "notFound", "failed", "deferred" })
            await Expect(Count(page, "total", result)).ToHaveTextAsync("0");
        await Expect(page.Locator("#no-errors")).ToBeVisibleAsync();

        // One lead exists at the sandbox, two do not.
        await Host.PostJsonAsync($"v1/projects/{project}/events", new JsonArray(
            Identify("u-dora", "dora@status-counts.example"),
            Identify("u-x1", "x1@status-counts.example"),
            Identify("u-x2", "x2@status-counts.example")), bearer: apiKey);
        await ConsoleHost.WaitUntilAsync(async () => Total(await SyncAsync(project), "synced") == 1 && Total(await SyncAsync(project), "notFound") == 2);

        await session.GotoAsync($"/admin/projects/{project}/status");
        await Expect(Count(page, "total", "synced")).ToHaveTextAsync("1");
        await Expect(Count(page, "total", "notFound")).ToHaveTextAsync("2");
        await Expect(Count(page, "24h", "notFound")).ToHaveTextAsync("2");
        await Expect(Count(page, "total", "failed")).ToHaveTextAsync("0");

        // Marketo refuses the next lookup: the key's lookup fails, with Marketo's answer among the last errors.
        await Host.PostJsonAsync(new Uri(Host.SandboxControl, "faults").ToString(), new JsonObject
        {
            ["kind"] = "MarketoError", ["endpoint"] = "getLeads", ["count"] = 1, ["errorCode"] = "1003", ["errorMessage"] = "Invalid filter",
        }, bearer: null);
        await Host.PostJsonAsync($"v1/projects/{project}/events", new JsonArray(Identify("u-err", "err@status-counts.example")), bearer: apiKey);
        await ConsoleHost.WaitUntilAsync(async () => Total(await SyncAsync(project), "failed") == 1);

        await session.GotoAsync($"/admin/projects/{project}/status");
        await Expect(Count(page, "total", "failed")).ToHaveTextAsync("1");
        await Expect(Count(page, "total", "synced")).ToHaveTextAsync("1");
        var error = page.Locator("#sync-errors tr.sync-error[data-result='failed']");
        await Expect(error).ToHaveCountAsync(1);
        await Expect(error).ToContainTextAsync("err@status-counts.example");
        await Expect(error.Locator(".error-text")).ToContainTextAsync("1003");
        // The page and GET …/sync read the same figures.
        var sync = await SyncAsync(project);
        Assert.Equal("failed", (string)sync["lastErrors"]![0]!["result"]!);
        Assert.Equal("realtime", (string)sync["lastErrors"]![0]!["purpose"]!);
        await session.AssertScriptBudgetAsync();
        await session.ScreenshotAsync("status-counts", docs: true);
    }

    [Fact]
    public async Task The_resync_button_shows_the_estimate_then_queues_every_key_as_the_API_does()
    {
        const string project = "resync-a";
        var apiKey = await Host.CreateProjectAsync(project);
        await Host.SeedLeadAsync("eve@resync-a.example", "Eve");
        await Host.PostJsonAsync($"v1/projects/{project}/events", new JsonArray(
            Identify("u-eve", "eve@resync-a.example"),
            Identify("u-f", "f@resync-a.example"),
            Identify("u-g", "g@resync-a.example")), bearer: apiKey);
        await ConsoleHost.WaitUntilAsync(async () => Looked(await SyncAsync(project)) == 3);

        await using var session = await fixture.OpenAsync();
        await session.SignInAsync();
        var page = session.Page;
        await session.GotoAsync($"/admin/projects/{project}/status");
        await page.ClickAsync("#resync");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex($"/admin/projects/{project}/resync\\??$"));
        // Before confirming: the estimate, and nothing queued yet.
        await Expect(page.Locator("#estimate-keys")).ToHaveTextAsync("3");
        await Expect(page.Locator("#estimate-calls")).ToHaveTextAsync("1");
        await Expect(page.Locator("#remaining-today")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^\d+$"));
        await session.ScreenshotAsync("resync", docs: true);
        Assert.Equal(0, (int)(await SyncAsync(project))["backlog"]!["keys"]!);
        Assert.Equal(3, Looked(await SyncAsync(project)));

        await page.ClickAsync("#confirm-resync");
        await Expect(page.Locator("#queued-keys")).ToHaveTextAsync("3");
        await Expect(page.Locator("#queued-calls")).ToHaveTextAsync("1");
        await session.AssertScriptBudgetAsync();
        await session.ScreenshotAsync("resync-queued");
        // Every key is looked up again (one more result each).
        await ConsoleHost.WaitUntilAsync(async () => Looked(await SyncAsync(project)) == 6);

        // The API answers the same figures for the same project.
        var queued = await Host.PostJsonAsync($"v1/projects/{project}/sync/resync", new JsonObject { ["scope"] = "all" });
        Assert.Equal(3, (int)queued!["keys"]!);
        Assert.Equal(1, (int)queued["estimatedCalls"]!);
    }

    [Fact]
    public async Task The_settings_page_saves_KARTE_writing_and_shows_the_KARTE_connection_check()
    {
        const string project = "karte-check";
        await Host.CreateProjectAsync(project);
        await using var session = await fixture.OpenAsync();
        await session.SignInAsync();
        var page = session.Page;

        await session.GotoAsync($"/admin/projects/{project}");
        await Expect(page.Locator("#karte-enabled")).Not.ToBeCheckedAsync();
        await page.CheckAsync("#karte-enabled");
        await page.FillAsync("#karte-endpoint", new Uri(Host.BaseAddress, "sandbox/karte").ToString());
        await page.FillAsync("#karte-appToken", "not-the-app-token");
        await page.ClickAsync("#save-settings");
        await Expect(page.Locator("#saved")).ToBeVisibleAsync();
        await Expect(page.Locator("#karte-connection")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^failed: "));
        // KARTE's refusal never quotes the token.
        await Expect(page.Locator("#karte-connection")).Not.ToContainTextAsync("not-the-app-token");

        await page.FillAsync("#karte-appToken", "karte-sandbox-app-token");
        await page.ClickAsync("#save-settings");
        await Expect(page.Locator("#karte-connection")).ToHaveTextAsync("ok");
        await Expect(page.Locator("#marketo-connection")).ToHaveTextAsync("ok");
        // Write-only: the field is empty again, the mask beside it.
        await Expect(page.Locator("#karte-appToken")).ToHaveValueAsync("");
        await Expect(page.Locator("#settings-form")).ToContainTextAsync("****oken");
        await session.ScreenshotAsync("settings-karte", docs: true);

        var stored = await Host.GetJsonAsync($"v1/projects/{project}/settings");
        Assert.True((bool)stored["karte"]!["enabled"]!);
        Assert.Equal("****oken", (string)stored["karte"]!["appToken"]!);

        // Saved again with the token left empty: the stored token is kept and still accepted.
        await page.ClickAsync("#save-settings");
        await Expect(page.Locator("#karte-connection")).ToHaveTextAsync("ok");
        await session.AssertScriptBudgetAsync();

        // An invalid rate is the API's message beside the field, and nothing is saved.
        await page.FillAsync("#karte-requestsPerSecond", "0");
        await page.ClickAsync("#save-settings");
        await Expect(page.Locator("#error-karte-requestsPerSecond")).ToBeVisibleAsync();
        Assert.Equal(20, (int)(await Host.GetJsonAsync($"v1/projects/{project}/settings"))["karte"]!["requestsPerSecond"]!);
    }

    private static JsonObject Identify(string userId, string email) =>
        new() { ["userId"] = userId, ["event"] = "identify", ["values"] = new JsonObject { ["email"] = email } };

    private static ILocator Count(IPage page, string window, string result) =>
        page.Locator($"#sync-results td[data-window='{window}'][data-result='{result}']");

    private Task<JsonObject> SyncAsync(string project) => Host.GetJsonAsync($"v1/projects/{project}/sync");

    private static long Total(JsonObject sync, string result) => (long)sync["results"]!["total"]![result]!;

    /// <summary>Key lookups that reached a result at Marketo (found or not).</summary>
    private static long Looked(JsonObject sync) => Total(sync, "synced") + Total(sync, "notFound");
}
