using System.Text.Json.Nodes;

namespace KarteMarketo.ConsoleTests;

/// <summary>Sign-in, the projects, the settings form and the mappings, driven in Chromium against a real host.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class SignInAndSettingsTests(ConsoleFixture fixture)
{
    private ConsoleHost Host => fixture.Host;

    [Fact]
    public async Task Without_a_session_the_console_sends_to_login_a_wrong_key_is_refused_and_the_right_one_lists_projects()
    {
        await Host.CreateProjectAsync("signin-a");
        await using var session = await fixture.OpenAsync();
        var page = session.Page;

        await session.GotoAsync("/admin/");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/admin/login"));
        await session.ScreenshotAsync("login", docs: true);

        await page.FillAsync("#adminKey", "not-the-admin-key");
        var refused = await page.RunAndWaitForResponseAsync(() => page.ClickAsync("#sign-in"),
            r => r.Url.Contains("/admin/login") && r.Request.Method == "POST");
        Assert.Equal(401, refused.Status);
        await Expect(page.Locator("#login-error")).ToBeVisibleAsync();
        await session.AssertScriptBudgetAsync();
        await session.ScreenshotAsync("login-refused");
        Assert.DoesNotContain(await page.Context.CookiesAsync(), c => c.Name == "km_console");

        await page.FillAsync("#adminKey", ConsoleHost.AdminKey);
        await page.ClickAsync("#sign-in");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/admin/$"));
        await session.AssertScriptBudgetAsync();
        var link = page.Locator("#projects a", new() { HasText = "signin-a" });
        await Expect(link).ToHaveAttributeAsync("href", "/admin/projects/signin-a");
        await session.ScreenshotAsync("projects", docs: true);

        // The session cookie is HttpOnly and scoped to the console.
        var cookie = Assert.Single(await page.Context.CookiesAsync(), c => c.Name == "km_console");
        Assert.True(cookie.HttpOnly);
        Assert.Equal("/admin", cookie.Path);

        await page.ClickAsync("#sign-out");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/admin/login"));
        await session.GotoAsync("/admin/projects/signin-a");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/admin/login\\?returnUrl="));
    }

    [Fact]
    public async Task A_post_without_the_antiforgery_token_is_refused()
    {
        await Host.CreateProjectAsync("antiforgery-a");
        await using var session = await fixture.OpenAsync();
        await session.SignInAsync();
        // The session cookie rides along (same context), but the form token does not.
        var response = await session.Page.APIRequest.PostAsync("/admin/projects/antiforgery-a", new()
        {
            Form = session.Context.APIRequest.CreateFormData().Set("quota.dailyLimit", "5"),
            MaxRedirects = 0,
        });
        Assert.Equal(400, response.Status);
        var stored = await Host.GetJsonAsync("v1/projects/antiforgery-a/settings");
        Assert.Equal(50000, (int)stored["quota"]!["dailyLimit"]!);
    }

    [Fact]
    public async Task Settings_with_one_invalid_field_show_the_API_message_beside_it_and_save_nothing_then_save_once_fixed()
    {
        await Host.CreateProjectAsync("settings-a");
        var before = await Host.GetJsonAsync("v1/projects/settings-a/settings");
        await using var session = await fixture.OpenAsync();
        await session.SignInAsync();
        var page = session.Page;

        await session.GotoAsync("/admin/projects/settings-a");
        await Expect(page.Locator("#marketo-clientId")).ToHaveValueAsync("sandbox-client");
        // Secrets are write-only: the field is empty, the mask is shown beside it.
        await Expect(page.Locator("#marketo-clientSecret")).ToHaveValueAsync("");
        await Expect(page.Locator("#settings-form")).ToContainTextAsync("****cret");
        await session.ScreenshotAsync("settings", docs: true);

        await page.FillAsync("#quota-reservePercent", "95");
        await page.FillAsync("#periodicSync-intervalMinutes", "15");
        await page.ClickAsync("#save-settings");
        await Expect(page.Locator("#save-refused")).ToBeVisibleAsync();
        // The API's own message, beside the field it is about.
        var message = page.Locator("#error-quota-reservePercent");
        await Expect(message).ToHaveTextAsync("must be between 0 and 90");
        await Expect(page.Locator(".field.invalid #quota-reservePercent")).ToBeVisibleAsync();
        // What was typed stays in the form.
        await Expect(page.Locator("#periodicSync-intervalMinutes")).ToHaveValueAsync("15");
        await session.AssertScriptBudgetAsync();
        await session.ScreenshotAsync("settings-invalid", docs: true);

        var unchanged = await Host.GetJsonAsync("v1/projects/settings-a/settings");
        Assert.Equal((long)before["version"]!, (long)unchanged["version"]!);
        Assert.Equal(30, (int)unchanged["periodicSync"]!["intervalMinutes"]!);

        // The same message the API gives for the same value.
        using (var admin = Host.Http(ConsoleHost.AdminKey))
        {
            var body = before.DeepClone().AsObject();
            body["quota"]!["reservePercent"] = 95;
            using var api = await admin.PutAsync("v1/projects/settings-a/settings",
                new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json"));
            var problem = JsonNode.Parse(await api.Content.ReadAsStringAsync())!;
            Assert.Equal("must be between 0 and 90", (string)problem["errors"]!["quota.reservePercent"]![0]!);
        }

        await page.FillAsync("#quota-reservePercent", "20");
        await page.ClickAsync("#save-settings");
        await Expect(page.Locator("#saved")).ToBeVisibleAsync();
        await Expect(page.Locator("#marketo-connection")).ToHaveTextAsync("ok");
        var saved = await Host.GetJsonAsync("v1/projects/settings-a/settings");
        Assert.Equal(20, (int)saved["quota"]!["reservePercent"]!);
        Assert.Equal(15, (int)saved["periodicSync"]!["intervalMinutes"]!);
        // The secret left empty was kept: the connection check above used it.
        Assert.Equal((string)before["marketo"]!["clientSecret"]!, (string)saved["marketo"]!["clientSecret"]!);
    }

    [Fact]
    public async Task A_not_an_integer_is_reported_beside_its_field_and_nothing_is_saved()
    {
        await Host.CreateProjectAsync("settings-b");
        await using var session = await fixture.OpenAsync();
        await session.SignInAsync();
        var page = session.Page;
        await session.GotoAsync("/admin/projects/settings-b");
        await page.FillAsync("#quota-dailyLimit", "lots");
        await page.FillAsync("#marketo-endpoint", "ftp://example.com/rest");
        await page.ClickAsync("#save-settings");
        await Expect(page.Locator("#error-quota-dailyLimit")).ToHaveTextAsync("must be an integer");
        await Expect(page.Locator("#error-marketo-endpoint")).ToContainTextAsync("must be an absolute http or https URL");
        var stored = await Host.GetJsonAsync("v1/projects/settings-b/settings");
        Assert.Equal(1, (long)stored["version"]!);
    }

    [Fact]
    public async Task A_new_project_is_created_from_the_form_and_its_keys_are_shown_once()
    {
        await using var session = await fixture.OpenAsync();
        await session.SignInAsync();
        var page = session.Page;
        await session.GotoAsync("/admin/");
        await page.FillAsync("#projectId", "created-in-console");
        await page.ClickAsync("#open-project");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/admin/projects/created-in-console$"));
        await page.FillAsync("#marketo-clientId", "sandbox-client");
        await page.FillAsync("#marketo-clientSecret", "sandbox-secret");
        await page.FillAsync("#marketo-endpoint", Host.SandboxRest.ToString());
        await page.FillAsync("#marketo-identity", Host.SandboxIdentity.ToString());
        await page.ClickAsync("#save-settings");
        await Expect(page.Locator("#issued-keys")).ToBeVisibleAsync();
        var apiKey = await page.Locator("#issued-api-key").InnerTextAsync();
        // The key shown works against the API.
        using var client = Host.Http(apiKey);
        using var accepted = await client.PostAsync("v1/projects/created-in-console/events",
            new StringContent("""{"userId":"u-1","event":"view"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(202, (int)accepted.StatusCode);
        // Shown once: reading the page again shows masks only.
        await session.GotoAsync("/admin/projects/created-in-console");
        await Expect(page.Locator("#issued-keys")).ToHaveCountAsync(0);
        await session.GotoAsync("/admin/");
        await Expect(page.Locator("#projects a", new() { HasText = "created-in-console" })).ToBeVisibleAsync();
    }

    [Fact]
    public async Task A_field_mapping_is_added_reordered_and_saved_and_an_activity_mapping_too()
    {
        await Host.CreateProjectAsync("mappings-a", s => s["fieldMappings"] = new JsonArray(
            new JsonObject { ["marketoField"] = "email", ["convert"] = "none", ["syncField"] = "email" }));
        await using var session = await fixture.OpenAsync();
        await session.SignInAsync();
        var page = session.Page;
        await session.GotoAsync("/admin/projects/mappings-a/mappings");
        await Expect(page.Locator("#field-mappings tr[data-row]")).ToHaveCountAsync(1);

        await page.ClickAsync("#add-field");
        await Expect(page.Locator("#field-mappings tr[data-row]")).ToHaveCountAsync(2);
        await page.FillAsync("input[name='fieldMappings[1].marketoField']", "dateOfBirth");
        await page.SelectOptionAsync("select[name='fieldMappings[1].convert']", "stringToDate");
        await page.FillAsync("input[name='fieldMappings[1].syncField']", "birth_date");
        await page.FillAsync("input[name='fieldMappings[1].subscriptionField']", "subscribed");
        // Moved to the top before saving.
        await page.ClickAsync("button[value='up-field-1']");
        await Expect(page.Locator("input[name='fieldMappings[0].marketoField']")).ToHaveValueAsync("dateOfBirth");

        await page.ClickAsync("#add-activity");
        await page.FillAsync("input[name='activityMappings[0].event']", "purchase");
        await page.FillAsync("input[name='activityMappings[0].activityTypeId']", "100001");
        await page.FillAsync("input[name='activityMappings[0].primaryAttribute']", "item_name");
        await page.FillAsync("input[name='activityMappings[0].attributes']", "price=amount");
        await session.ScreenshotAsync("mappings", docs: true);
        await page.ClickAsync("#save-mappings");
        await Expect(page.Locator("#saved")).ToBeVisibleAsync();
        await session.AssertScriptBudgetAsync();

        var stored = await Host.GetJsonAsync("v1/projects/mappings-a/settings");
        var fields = stored["fieldMappings"]!.AsArray();
        Assert.Equal(2, fields.Count);
        Assert.Equal("dateOfBirth", (string)fields[0]!["marketoField"]!);
        Assert.Equal("stringToDate", (string)fields[0]!["convert"]!);
        Assert.Equal("subscribed", (string)fields[0]!["subscriptionField"]!);
        Assert.Equal("email", (string)fields[1]!["marketoField"]!);
        var activity = stored["activityMappings"]![0]!;
        Assert.Equal(100001, (int)activity["activityTypeId"]!);
        Assert.Equal("amount", (string)activity["attributes"]!["price"]!);

        // A refused row keeps the page's rows and saves nothing.
        await page.ClickAsync("#add-field");
        await page.ClickAsync("#save-mappings");
        await Expect(page.Locator("[data-field='fieldMappings[2].marketoField']")).ToHaveTextAsync("must be a Marketo REST API field name (letters, digits and _)");
        var again = await Host.GetJsonAsync("v1/projects/mappings-a/settings");
        Assert.Equal((long)stored["version"]!, (long)again["version"]!);
    }

    [Fact]
    public async Task Japanese_is_chosen_by_lang_remembered_and_the_default_where_the_browser_asks_for_it()
    {
        await Host.CreateProjectAsync("lang-a");
        await using (var session = await fixture.OpenAsync())
        {
            await session.SignInAsync();
            var page = session.Page;
            await session.GotoAsync("/admin/projects/lang-a");
            await Expect(page.Locator("h1")).ToHaveTextAsync("Settings");
            await page.ClickAsync("#lang-ja");
            await Expect(page.Locator("h1")).ToHaveTextAsync("設定");
            await Expect(page.Locator("#save-settings")).ToHaveTextAsync("保存");
            await session.ScreenshotAsync("settings-ja", docs: true);
            // Remembered on the next page, without ?lang.
            await session.GotoAsync("/admin/");
            await Expect(page.Locator("h1")).ToHaveTextAsync("プロジェクト");
            await session.GotoAsync("/admin/?lang=en");
            await Expect(page.Locator("h1")).ToHaveTextAsync("Projects");
        }

        await using (var japanese = await fixture.OpenAsync("ja-JP,ja;q=0.9,en;q=0.5"))
        {
            await japanese.GotoAsync("/admin/login");
            await Expect(japanese.Page.Locator("#sign-in")).ToHaveTextAsync("サインイン");
            await Expect(japanese.Page.Locator("html")).ToHaveAttributeAsync("lang", "ja");
        }
    }
}
