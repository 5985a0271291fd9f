using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;
using static KarteMarketo.FunctionalTests.Sync.SyncTestKit;

namespace KarteMarketo.FunctionalTests.Sync;

/// <summary><c>GET …/sync</c>: lookup results counted by result, in total and over the last 24 hours of the app's clock,
/// the last errors, the backlog; admin only.</summary>
public sealed class SyncStatusApiTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    [Fact]
    public async Task Results_are_counted_by_result_and_leave_the_24_hour_window_but_not_the_total()
    {
        await using var kit = await StartAsync(app, "status-api", Settings(batchDelayMs: 1000),
            seed: s => { s.SeedLead("found1@example.com"); s.SeedLead("found2@example.com"); });
        var before = await SyncAsync(kit, "status-api");
        Assert.Equal(0, (long)before["results"]!["total"]!["synced"]!);
        Assert.Null(before["results"]!["since"]?.GetValue<DateTimeOffset?>());
        Assert.Empty(before["lastErrors"]!.AsArray());

        await kit.SendAsync([Identify("u1", "found1@example.com"), Identify("u2", "found2@example.com"), Identify("u3", "missing@example.com")]);
        await kit.AdvanceUntilAsync(TimeSpan.FromSeconds(1), async () =>
            (long)(await SyncAsync(kit, "status-api"))["results"]!["total"]!["notFound"]! == 1, "three lookups counted");

        var after = await SyncAsync(kit, "status-api");
        foreach (var window in new[] { "total", "last24Hours" })
        {
            var counts = after["results"]![window]!.AsObject();
            Assert.Equal(["synced", "notFound", "failed", "deferred"], counts.Select(c => c.Key));
            Assert.Equal((2L, 1L, 0L, 0L), ((long)counts["synced"]!, (long)counts["notFound"]!, (long)counts["failed"]!, (long)counts["deferred"]!));
        }
        Assert.Equal(0, (int)after["backlog"]!["keys"]!);
        Assert.Empty(after["lastErrors"]!.AsArray());   // not found is a result, not an error

        // A day later the results have left the window; the total keeps them.
        await kit.AdvanceAsync(TimeSpan.FromHours(25));
        var later = await SyncAsync(kit, "status-api");
        Assert.Equal(0, (long)later["results"]!["last24Hours"]!["synced"]!);
        Assert.Equal(2, (long)later["results"]!["total"]!["synced"]!);
    }

    [Fact]
    public async Task Sync_status_needs_the_admin_key_a_known_project_and_a_valid_id()
    {
        await using var kit = await StartAsync(app, "status-auth", Settings());
        using var anonymous = app.CreateClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/projects/status-auth/sync")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await kit.Events.GetAsync("/v1/projects/status-auth/sync")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await kit.Admin.GetAsync("/v1/projects/no-such-project/sync")).StatusCode);
        using var bad = await kit.Admin.GetAsync("/v1/projects/bad%20id/sync");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
    }

    private static async Task<JsonObject> SyncAsync(SyncTestKit kit, string project)
    {
        using var response = await kit.Admin.GetAsync($"/v1/projects/{project}/sync");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }
}
