using System.Net;
using System.Text;
using KarteMarketo.Contracts;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.Grains.Flows.LeadSync;
using KarteMarketo.Grains.Projects;
using Microsoft.Extensions.DependencyInjection;
using static KarteMarketo.FunctionalTests.Sync.SyncTestKit;

namespace KarteMarketo.FunctionalTests.Sync;

/// <summary>The events endpoint's hot path (issue 18): plain identify bodies read by the source-generated reader, and
/// the per-silo shortcut table the key grains keep for identifies that would change nothing.</summary>
public sealed class IdentifyShortcutTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    [Theory]
    [InlineData("""{ "userId": "dup-a", "userId": "dup-b", "event": "identify", "values": { "email": "dup@example.com" } }""")]
    [InlineData("""[ { "userId": "dup-a", "event": "identify", "values": { "email": "dup@example.com", "email": "other@example.com" } } ]""")]
    [InlineData("""{ "userId": "dup-a", "event": "identify", "values": { "email": "dup@example.com" } } { }""")]
    public async Task A_plain_identify_body_that_is_not_valid_json_for_us_is_refused_and_stores_nothing(string json)
    {
        await using var kit = await StartAsync(app, "shortcut-bad-" + Guid.NewGuid().ToString("N")[..8], Settings(realtime: true));
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await kit.Events.PostAsync($"/v1/projects/{kit.ProjectId}/events", content);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Null(await kit.GetUserAsync("dup-a"));
        Assert.Null(await kit.GetUserAsync("dup-b"));
    }

    [Fact]
    public async Task A_known_user_inside_the_window_takes_the_shortcut_and_anything_new_reaches_the_key_grain()
    {
        long lead = 0;
        await using var kit = await StartAsync(app, "shortcut-known", Settings(batchDelayMs: 1000, resyncWindowSeconds: 3_600),
            seed: s => lead = s.SeedLead("known@example.com"));
        var shortcuts = app.Services.GetRequiredService<IdentifyShortcuts>();
        var key = new LeadKeyId(kit.ProjectId, LeadKeyType.Email, "known@example.com");
        async Task<long> VersionAsync() => (await app.Services.GetRequiredService<IProjectDirectory>().GetAsync(kit.ProjectId))!.Version;

        await kit.SendAsync([Identify("first", "Known@Example.com")]);
        await kit.AdvanceUntilAsync(TimeSpan.FromSeconds(1), async () => LeadIdOf(await kit.GetUserAsync("first")) == lead, "first synced");
        await WaitUntilAsync(async () => shortcuts.IsNoOpIdentify(key, "first", false, await VersionAsync(), app.Time.GetUtcNow()),
            "the key grain published its shortcut");
        Assert.False(shortcuts.IsNoOpIdentify(key, "second", false, await VersionAsync(), app.Time.GetUtcNow()));
        Assert.False(shortcuts.IsNoOpIdentify(key, "first", false, await VersionAsync() + 1, app.Time.GetUtcNow()));
        var calls = kit.LookupCalls;

        // Repeats answer from the shortcut: nothing looked up, nothing changed.
        await kit.SendAsync([Identify("first", "known@example.com"), Identify("first", " KNOWN@example.com")]);
        Assert.Equal(calls, kit.LookupCalls);
        Assert.Equal(lead, LeadIdOf(await kit.GetUserAsync("first")));

        // A second user of the key is not in the shortcut: the grain links them and hands them the lead at once.
        await kit.SendAsync([Identify("second", "known@example.com")]);
        Assert.Equal(lead, LeadIdOf(await kit.GetUserAsync("second")));
        await WaitUntilAsync(async () => shortcuts.IsNoOpIdentify(key, "second", false, await VersionAsync(), app.Time.GetUtcNow()),
            "the shortcut names the second user");

        // The entry carries the window's end: after it the identify reaches the grain, which looks the key up again.
        await kit.AdvanceAsync(TimeSpan.FromSeconds(3_600));
        Assert.False(shortcuts.IsNoOpIdentify(key, "first", false, await VersionAsync(), app.Time.GetUtcNow()));
        await kit.SendAsync([Identify("first", "known@example.com")]);
        await kit.AdvanceUntilAsync(TimeSpan.FromSeconds(1), () => Task.FromResult(kit.LookupCalls == calls + 1), "looked up again after the window");
        kit.AssertMarketoLimitsKept();
    }
}
