using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.MarketoSandbox.Karte;

using KarteMarketo.FunctionalTests.Sync;

namespace KarteMarketo.FunctionalTests.KarteWriteBack;

/// <summary>KARTE misbehaving (the stand-in's faults over real HTTP): every write still arrives exactly once and in order
/// per user; a refused token pauses the project until its settings change; the rate ceiling holds.</summary>
public sealed class KarteFaultTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    private const int Users = 4, EventsPerUser = 5;

    /// <summary>Users linked to emails with no lead (so only the events are written), then five numbered events each.</summary>
    private static async Task SendNumberedEventsAsync(SyncTestKit kit)
    {
        await kit.SendAsync([.. Enumerable.Range(0, Users).Select(u => SyncTestKit.Identify($"f{u}", $"f{u}@example.com"))]);
        using var client = kit.App.CreateClient();
        client.DefaultRequestHeaders.Add("X-Webhook-Secret", kit.Project.WebhookSecret);
        for (var n = 0; n < EventsPerUser; n++)
        {
            for (var u = 0; u < Users; u++)
            {
                using var response = await client.PostAsync($"/v1/projects/{kit.ProjectId}/webhooks/marketo", new StringContent(
                    $$"""{ "email": "f{{u}}@example.com", "event_name": "marketo_step", "n": {{n}} }""", Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
        }
    }

    private static IReadOnlyList<int> StepsOf(SyncTestKit kit, string userId) =>
        [.. kit.ReceivedFor(userId).Where(e => e.EventName == "marketo_step").Select(e => (int)e.Values["n"]!)];

    private static bool AllWritten(SyncTestKit kit) =>
        Enumerable.Range(0, Users).All(u => StepsOf(kit, $"f{u}").Count >= EventsPerUser);

    private static async Task AssertEachOnceInOrderAsync(SyncTestKit kit)
    {
        await kit.RunForAsync(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(1));
        for (var u = 0; u < Users; u++) Assert.Equal(Enumerable.Range(0, EventsPerUser), StepsOf(kit, $"f{u}"));
        Assert.Equal(Users * EventsPerUser, await kit.CountAsync("delivered"));
        Assert.Equal(0, await kit.CountAsync("pending"));
    }

    [Fact]
    public async Task A_429_storm_delays_but_writes_everything_once_in_order_per_user()
    {
        await using var kit = await SyncTestKit.StartWithKarteAsync(app, "kf-429");
        kit.Karte.AddFault(KarteFaultKind.TooManyRequests, count: 12, retryAfterSeconds: 3);
        await SendNumberedEventsAsync(kit);

        await kit.AdvanceInStepsUntilAsync(() => AllWritten(kit), "all events written through the 429s", TimeSpan.FromSeconds(1));
        Assert.Equal(12, kit.Karte.Answers.GetValueOrDefault(429));
        await AssertEachOnceInOrderAsync(kit);
        // A 429 is KARTE's limit, not the write's fault: no attempt was spent on it.
        var writes = (await kit.KarteWritesAsync())["writes"]!.AsArray();
        Assert.All(writes, w => Assert.Equal(1, (int)w!["attempts"]!));
    }

    [Fact]
    public async Task A_5xx_storm_backs_off_and_writes_everything_once_in_order_per_user()
    {
        await using var kit = await SyncTestKit.StartWithKarteAsync(app, "kf-5xx");
        kit.Karte.AddFault(KarteFaultKind.ServerError, count: 5, status: 503);
        kit.Karte.AddFault(KarteFaultKind.Hang, count: 1);
        await SendNumberedEventsAsync(kit);

        await kit.AdvanceInStepsUntilAsync(() => AllWritten(kit), "all events written through the 5xx", TimeSpan.FromSeconds(2));
        Assert.Equal(5, kit.Karte.Answers.GetValueOrDefault(503));
        await AssertEachOnceInOrderAsync(kit);
    }

    [Fact]
    public async Task A_refused_token_pauses_the_project_losing_nothing_until_the_settings_give_a_good_one()
    {
        await using var kit = await SyncTestKit.StartWithKarteAsync(app, "kf-401");
        kit.Karte.AppToken = "rotated-token";     // as if the app token was revoked in KARTE's admin screen
        await SendNumberedEventsAsync(kit);

        await kit.AdvanceInStepsUntilAsync(async () => (bool)(await kit.KarteWritesAsync(limit: 1))["paused"]!, "paused");
        var calls = kit.Karte.Calls;
        await kit.RunForAsync(TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(5));
        Assert.Equal(calls, kit.Karte.Calls);      // paused: nothing sent while the token is the same
        Assert.Empty(kit.Karte.Received);
        Assert.Equal(Users * EventsPerUser, await kit.CountAsync("pending"));

        var settings = await Outbox.OutboxTestKit.GetJsonAsync(kit.Admin, $"/v1/projects/{kit.ProjectId}/settings");
        Assert.StartsWith("****", (string)settings["karte"]!["appToken"]!);
        settings["karte"]!["appToken"] = "rotated-token";
        using var put = await kit.Admin.PutAsJsonAsync($"/v1/projects/{kit.ProjectId}/settings", settings);
        var saved = await put.Content.ReadFromJsonAsync<JsonObject>();
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal("ok", (string?)saved!["karteConnection"]);

        await kit.AdvanceInStepsUntilAsync(() => AllWritten(kit), "drained after the settings change");
        await AssertEachOnceInOrderAsync(kit);
        Assert.False((bool)(await kit.KarteWritesAsync(limit: 1))["paused"]!);
    }

    [Fact]
    public async Task Requests_per_second_is_never_exceeded()
    {
        await using var kit = await SyncTestKit.StartWithKarteAsync(app, "kf-rate", requestsPerSecond: 5, seed: s =>
        {
            for (var i = 0; i < 30; i++) s.SeedLead($"rate{i}@example.com", ("firstName", $"R{i}"));
        });
        await kit.RunForAsync(TimeSpan.FromSeconds(2));      // the settings' token check falls out of the window
        await kit.SendAsync([.. Enumerable.Range(0, 30).Select(i => SyncTestKit.Identify($"rate-{i}", $"rate{i}@example.com"))]);

        // The clock moves one gate interval (200 ms) at a time and waits for the call it released to arrive, so the
        // stand-in stamps each call with the instant it was sent (not later, after the clock moved on meanwhile).
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (kit.Karte.Received.Count < 30)
        {
            Assert.True(watch.Elapsed < SyncTestKit.KarteBound, $"only {kit.Karte.Received.Count} of 30 writes arrived");
            var before = kit.Karte.Calls;
            await Task.Run(() => app.Time.Advance(TimeSpan.FromMilliseconds(200)));
            var step = System.Diagnostics.Stopwatch.StartNew();
            while (kit.Karte.Calls == before && step.ElapsedMilliseconds < 300) await Task.Delay(5);
        }
        Assert.InRange(kit.Karte.MaxRequestsPerSecond, 1, 5);
        Assert.Equal(30, kit.Karte.Received.Select(e => e.UserId).Distinct().Count());
    }
}

/// <summary>The <c>karte</c> settings: validation, the masked token, secrets that follow their host, the token check.</summary>
public sealed class KarteSettingsTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    [Fact]
    public async Task Karte_settings_are_validated_masked_kept_and_checked_without_writing()
    {
        await using var sandbox = await MarketoSandbox.SandboxServer.StartAsync(null, app.Time);
        JsonObject Settings(JsonObject karte) => new()
        {
            ["marketo"] = new JsonObject
            {
                ["clientId"] = sandbox.ClientId, ["clientSecret"] = sandbox.ClientSecret,
                ["endpoint"] = sandbox.RestEndpoint.ToString().TrimEnd('/'), ["identity"] = sandbox.IdentityEndpoint.ToString().TrimEnd('/'),
            },
            ["karte"] = karte,
        };
        using var admin = app.CreateAdminClient();
        const string path = "/v1/projects/ks-settings/settings";

        using (var bad = await admin.PutAsJsonAsync(path, Settings(new JsonObject
               { ["enabled"] = true, ["endpoint"] = "ftp://x", ["requestsPerSecond"] = 0, ["extra"] = 1 })))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            var errors = (await bad.Content.ReadFromJsonAsync<JsonObject>())!["errors"]!.AsObject();
            Assert.True(errors.ContainsKey("karte.endpoint") && errors.ContainsKey("karte.appToken")
                        && errors.ContainsKey("karte.requestsPerSecond") && errors.ContainsKey("karte.extra"), errors.ToJsonString());
        }

        var karte = SyncTestKit.KarteSettings(sandbox, token: "wrong-token");
        using (var wrong = await admin.PutAsJsonAsync(path, Settings(karte)))
        {
            var body = (await wrong.Content.ReadFromJsonAsync<JsonObject>())!;
            Assert.Equal(HttpStatusCode.OK, wrong.StatusCode);
            Assert.StartsWith("failed:", (string?)body["karteConnection"]);
            Assert.DoesNotContain("wrong-token", body.ToJsonString());
        }
        using (var good = await admin.PutAsJsonAsync(path, Settings(SyncTestKit.KarteSettings(sandbox))))
        {
            var body = (await good.Content.ReadFromJsonAsync<JsonObject>())!;
            Assert.Equal("ok", (string?)body["karteConnection"]);
            Assert.Equal("****" + sandbox.Karte.AppToken[^4..], (string?)body["karte"]!["appToken"]);
            Assert.Equal(20, (int)body["karte"]!["requestsPerSecond"]!);
        }
        Assert.Empty(sandbox.Karte.Received);      // the checks wrote nothing

        // The masked token sent back is kept; sent to another host it is refused.
        var read = await Outbox.OutboxTestKit.GetJsonAsync(admin, path);
        using (var same = await admin.PutAsJsonAsync(path, read))
            Assert.Equal("ok", (string?)(await same.Content.ReadFromJsonAsync<JsonObject>())!["karteConnection"]);
        read["karte"]!["endpoint"] = "https://api.karte.example";
        using (var moved = await admin.PutAsJsonAsync(path, read))
        {
            Assert.Equal(HttpStatusCode.BadRequest, moved.StatusCode);
            Assert.Contains("karte.appToken", await moved.Content.ReadAsStringAsync());
        }
    }
}
