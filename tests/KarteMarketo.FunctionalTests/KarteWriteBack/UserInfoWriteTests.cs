using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;

using KarteMarketo.FunctionalTests.Sync;

namespace KarteMarketo.FunctionalTests.KarteWriteBack;

/// <summary>User info reaches KARTE (the stand-in, over real HTTP) as one <c>identify</c> write per user holding exactly
/// what <c>GET …/users/{id}</c> shows; unchanged results are not written again, changed ones once.</summary>
public sealed class UserInfoWriteTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    [Fact]
    public async Task Identify_writes_one_identify_per_user_with_the_user_info_then_only_changes()
    {
        var leads = new Dictionary<string, long>();
        await using var kit = await SyncTestKit.StartWithKarteAsync(app, "kw-identify", seed: s =>
        {
            for (var i = 0; i < 5; i++) leads[$"u{i}"] = s.SeedLead($"p{i}@example.com", ("firstName", $"P{i}"));
        });

        await kit.SendAsync([.. Enumerable.Range(0, 5).Select(i => SyncTestKit.Identify($"u{i}", $"p{i}@example.com"))]);
        await kit.AdvanceInStepsUntilAsync(() => kit.Karte.Received.Count >= 5 && kit.CountAsync("delivered").Result >= 5, "5 identify writes");

        for (var i = 0; i < 5; i++)
        {
            var received = Assert.Single(kit.ReceivedFor($"u{i}"));
            Assert.Equal("identify", received.EventName);
            var user = await kit.GetUserAsync($"u{i}");
            Assert.True(JsonNode.DeepEquals(user!["identify"], received.Values),
                $"KARTE got {received.Values.ToJsonString()}, the user shows {user["identify"]!.ToJsonString()}");
            Assert.Equal(leads[$"u{i}"], (long)received.Values["marketo"]!["id"]!);
        }

        // After the resync window: an unchanged lead is looked up again (its _karte_last_sync_date moves) but not written.
        await kit.RunForAsync(TimeSpan.FromSeconds(61), TimeSpan.FromSeconds(5));
        var syncedAt = (long)(await kit.GetUserAsync("u0"))!["identify"]!["marketo"]!["_karte_last_sync_date"]!;
        kit.Sandbox.State.UpdateLead(leads["u1"], ("firstName", "Changed"));
        await kit.SendAsync([.. Enumerable.Range(0, 5).Select(i => SyncTestKit.Identify($"u{i}", $"p{i}@example.com"))]);
        await kit.AdvanceInStepsUntilAsync(async () =>
            (long)(await kit.GetUserAsync("u4"))!["identify"]!["marketo"]!["_karte_last_sync_date"]! > syncedAt
            && kit.ReceivedFor("u1").Count == 2, "second sync");
        await kit.RunForAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(2, kit.ReceivedFor("u1").Count);
        Assert.Equal("Changed", (string?)kit.ReceivedFor("u1")[1].Values["marketo"]!["firstName"]);
        foreach (var unchanged in new[] { "u0", "u2", "u3", "u4" }) Assert.Single(kit.ReceivedFor(unchanged));
        Assert.Equal(6, kit.Karte.Received.Count);
    }
}
