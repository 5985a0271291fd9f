using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.MarketoSandbox;
using static KarteMarketo.FunctionalTests.Sync.SyncTestKit;

namespace KarteMarketo.FunctionalTests.Sync;

/// <summary>Realtime sync over real HTTP against the sandbox: batching, the resync window, the cookie hand-over.</summary>
public sealed class RealtimeSyncTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    private static readonly TimeSpan BatchDelay = TimeSpan.FromMilliseconds(1000);

    [Fact]
    public async Task Thousand_identifies_are_synced_with_at_most_five_lookups_and_not_again_inside_the_window()
    {
        var leadIds = new Dictionary<string, long>();
        await using var kit = await StartAsync(app, "rt-thousand", Settings(batchDelayMs: 1000, resyncWindowSeconds: 86_400),
            seed: sandbox =>
            {
                for (var i = 0; i < 1_000; i++) leadIds[$"user-{i}"] = sandbox.SeedLead($"person{i}@example.com", ("firstName", $"P{i}"));
            });
        var events = Enumerable.Range(0, 1_000).Select(i => Identify($"user-{i}", $"Person{i}@Example.com ")).ToList();

        await kit.SendAsync(events);     // one request: well within a second
        await kit.AdvanceAsync(BatchDelay);
        await WaitUntilAsync(async () => await kit.SegmentCountAsync("marketo-lead-synced") == 1_000, "1,000 users synced");

        foreach (var (userId, leadId) in leadIds)
        {
            var user = await kit.GetUserAsync(userId);
            Assert.Equal(leadId, LeadIdOf(user));
            Assert.Equal("synced", LastResultOf(user));
            Assert.Equal("email", (string?)user!["sync"]!["syncedBy"]);
        }
        var firstRound = kit.LookupCalls;
        Assert.InRange(firstRound, 4, 5);     // 300 keys per call: 1,000 keys need 4
        Assert.Equal(1_000, kit.Sandbox.Counters.LookupValues);

        // Inside the window: identifying again looks nothing up. A fresh user sent after them proves the batcher has
        // flushed everything queued before it.
        await kit.SendAsync(events);
        kit.Sandbox.State.SeedLead("late@example.com");
        await kit.SendAsync([Identify("late-user", "late@example.com")]);
        await kit.AdvanceUntilAsync(BatchDelay, async () => LeadIdOf(await kit.GetUserAsync("late-user")) is not null, "late user synced");
        Assert.Equal(firstRound + 1, kit.LookupCalls);

        // After the window: looked up again, still batched.
        await kit.AdvanceAsync(TimeSpan.FromSeconds(86_400));
        var before = kit.LookupCalls;
        var syncedAt = app.Time.GetUtcNow().ToUnixTimeSeconds();
        await kit.SendAsync(events);
        await kit.AdvanceUntilAsync(BatchDelay, async () =>
            (long?)(await kit.GetUserAsync("user-999"))!["identify"]!["marketo"]!["_karte_last_sync_date"] >= syncedAt
            && (long?)(await kit.GetUserAsync("user-0"))!["identify"]!["marketo"]!["_karte_last_sync_date"] >= syncedAt,
            "users looked up again after the window");
        await WaitUntilAsync(() => Task.FromResult(kit.Sandbox.Counters.LookupValues == 2_001), "second round of lookups");
        Assert.InRange(kit.LookupCalls - before, 4, 5);
        kit.AssertMarketoLimitsKept();
    }

    [Fact]
    public async Task Cookie_only_and_email_without_lead_are_synced_by_cookie_and_a_key_without_lead_is_not_found()
    {
        const string cookieA = "id:123-ABC-456&token:_mch-example.com-1700000000000-11111";
        const string cookieB = "id:123-ABC-456&token:_mch-example.com-1700000000000-22222";
        const string cookieNone = "id:123-ABC-456&token:_mch-example.com-1700000000000-33333";
        long leadA = 0, leadB = 0, leadE = 0;
        await using var kit = await StartAsync(app, "rt-cookie", Settings(batchDelayMs: 1000, resyncWindowSeconds: 3_600), seed: s =>
        {
            leadA = s.SeedLeadWithCookie("anon-a@example.com", cookieA, ("firstName", "CookieA"));
            leadB = s.SeedLeadWithCookie("real-b@example.com", cookieB, ("firstName", "CookieB"));
            leadE = s.SeedLeadWithCookie("email-e@example.com", "id:123-ABC-456&token:_mch-example.com-1700000000000-44444");
        });

        await kit.SendAsync(
        [
            Identify("cookie-only", cookie: cookieA),
            Identify("email-no-lead", email: "unknown@example.com", cookie: cookieB),
            Identify("nothing", email: "nobody@example.com", cookie: cookieNone),
            Identify("email-wins", email: "email-e@example.com", cookie: cookieA),
        ]);

        await kit.AdvanceUntilAsync(BatchDelay, async () =>
            LeadIdOf(await kit.GetUserAsync("cookie-only")) is not null
            && LeadIdOf(await kit.GetUserAsync("email-no-lead")) is not null
            && await kit.GetUserAsync("nothing") is { } n && LastResultOf(n) == "notFound" && (string?)n["sync"]!["key"] == "cookie"
            && LeadIdOf(await kit.GetUserAsync("email-wins")) == leadE,
            "cookie hand-over done", diagnostics: () => kit.DumpAsync("cookie-only", "email-no-lead", "nothing", "email-wins"));

        var cookieOnly = (await kit.GetUserAsync("cookie-only"))!;
        Assert.Equal(leadA, LeadIdOf(cookieOnly));
        Assert.Equal("cookie", (string?)cookieOnly["sync"]!["syncedBy"]);
        Assert.Equal("cookie", (string?)cookieOnly["sync"]!["key"]);

        var mixed = (await kit.GetUserAsync("email-no-lead"))!;
        Assert.Equal(leadB, LeadIdOf(mixed));
        Assert.Equal("cookie", (string?)mixed["sync"]!["syncedBy"]);
        Assert.Equal("synced", LastResultOf(mixed));

        // The email found its lead: the cookie is linked but not looked up for this user, and email stays preferred.
        var emailWins = (await kit.GetUserAsync("email-wins"))!;
        Assert.Equal(leadE, LeadIdOf(emailWins));
        Assert.Equal("email", (string?)emailWins["sync"]!["syncedBy"]);

        // No lead for either key: notFound, and the window was started anyway.
        var nothing = (await kit.GetUserAsync("nothing"))!;
        Assert.Equal("notFound", LastResultOf(nothing));
        Assert.Null(LeadIdOf(nothing));
        var requestedAt = DateTimeOffset.Parse((string)nothing["sync"]!["lastRequestAt"]!);
        var eligibleAt = DateTimeOffset.Parse((string)nothing["sync"]!["nextEligibleAt"]!);
        Assert.Equal(TimeSpan.FromSeconds(3_600), eligibleAt - requestedAt);

        var cookieSegment = await kit.GetSegmentAsync("marketo-cookie-synced");
        Assert.Equal(2, (long)cookieSegment["count"]!);
        Assert.Equal(["cookie-only", "email-no-lead"], cookieSegment["users"]!.AsArray().Select(u => (string)u!).Order().ToArray());
        Assert.Equal(3, (long)(await kit.GetSegmentAsync("marketo-lead-synced"))["count"]!);

        // Inside the window nothing is looked up again, found or not.
        var calls = kit.LookupCalls;
        await kit.SendAsync([Identify("nothing", email: "nobody@example.com", cookie: cookieNone), Identify("cookie-only", cookie: cookieA)]);
        kit.Sandbox.State.SeedLead("marker@example.com");
        await kit.SendAsync([Identify("marker", email: "marker@example.com")]);
        await kit.AdvanceUntilAsync(BatchDelay, async () => LeadIdOf(await kit.GetUserAsync("marker")) is not null, "marker synced");
        Assert.Equal(calls + 1, kit.LookupCalls);
        kit.AssertMarketoLimitsKept();
    }

    [Fact]
    public async Task With_no_batch_delay_every_key_gets_its_own_call()
    {
        await using var kit = await StartAsync(app, "rt-naive", Settings(batchDelayMs: 0), seed: s =>
        {
            for (var i = 0; i < 20; i++) s.SeedLead($"naive{i}@example.com");
        });
        await kit.SendAsync([.. Enumerable.Range(0, 20).Select(i => Identify($"naive-{i}", $"naive{i}@example.com"))]);
        await WaitUntilAsync(async () => await kit.SegmentCountAsync("marketo-lead-synced") == 20, "20 users synced");
        Assert.Equal(20, kit.Sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads, SandboxCallCodes.Success));
        Assert.Equal(20, kit.Sandbox.Counters.LookupValues);
        kit.AssertMarketoLimitsKept();
    }

    [Fact]
    public async Task Realtime_keys_setting_limits_lookups_to_the_listed_keys()
    {
        const string cookie = "id:123-ABC-456&token:_mch-example.com-1700000000000-55555";
        await using var kit = await StartAsync(app, "rt-keys", Settings(keys: ["email"]), seed: s => s.SeedLeadWithCookie("k@example.com", cookie));
        await kit.SendAsync([Identify("cookie-user", cookie: cookie)]);
        kit.Sandbox.State.SeedLead("marker2@example.com");
        await kit.SendAsync([Identify("marker", "marker2@example.com")]);
        await kit.AdvanceUntilAsync(BatchDelay, async () => LeadIdOf(await kit.GetUserAsync("marker")) is not null, "marker synced");
        Assert.Equal(1, kit.LookupCalls);                          // only the email
        var user = await kit.GetUserAsync("cookie-user");         // linked, seen, never looked up
        Assert.NotNull(user);
        Assert.Null(LeadIdOf(user));
        Assert.Null(LastResultOf(user));
    }
}
