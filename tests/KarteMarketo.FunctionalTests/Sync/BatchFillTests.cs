using KarteMarketo.FunctionalTests.Infrastructure;
using static KarteMarketo.FunctionalTests.Sync.SyncTestKit;

namespace KarteMarketo.FunctionalTests.Sync;

/// <summary>Batches that fill (issue 18): a batch goes at 300 keys or when its oldest key has waited the batch delay;
/// younger keys do not ride along in a small call of their own.</summary>
public sealed class BatchFillTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    private static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(1000);

    [Fact]
    public async Task A_stream_of_identifies_is_looked_up_in_full_batches_and_the_rest_when_its_oldest_key_is_due()
    {
        await using var kit = await StartAsync(app, "batch-fill", Settings(batchDelayMs: 1000, keys: ["email"]),
            seed: s => { for (var i = 0; i < 700; i++) s.SeedLead($"fill{i}@example.com"); });
        Task SendAsync(int from, int count) =>
            kit.SendAsync([.. Enumerable.Range(from, count).Select(i => Identify($"fill-{i}", $"fill{i}@example.com"))]);

        // 100 keys, then 210 more 0.9 s later: 300 go at once, by count.
        await SendAsync(0, 100);
        await kit.AdvanceAsync(TimeSpan.FromMilliseconds(900));
        await SendAsync(100, 210);
        await WaitUntilAsync(() => Task.FromResult(kit.LookupCalls == 1), "one full call");
        Assert.Equal(300, kit.Sandbox.Counters.LookupValues);

        // The first key's delay is up now, but the 10 keys left arrived 0.1 s ago: they are not due, so they do not
        // go alone; the next 290 fill their batch.
        await kit.AdvanceAsync(TimeSpan.FromMilliseconds(100));
        await Task.Delay(300);
        Assert.Equal(1, kit.LookupCalls);
        await SendAsync(310, 290);
        await WaitUntilAsync(() => Task.FromResult(kit.LookupCalls == 2), "the second full call");
        Assert.Equal(600, kit.Sandbox.Counters.LookupValues);

        // A last few keys go when their oldest key has waited the delay.
        await SendAsync(600, 20);
        await kit.AdvanceUntilAsync(TimeSpan.FromMilliseconds(500), () => Task.FromResult(kit.LookupCalls == 3), "the rest looked up");
        Assert.Equal(620, kit.Sandbox.Counters.LookupValues);
        await WaitUntilAsync(async () => await kit.SegmentCountAsync("marketo-lead-synced") == 620, "all synced");
        kit.AssertMarketoLimitsKept();
    }

    [Fact]
    public async Task A_nearly_full_batch_waits_a_little_past_the_delay_for_its_last_keys()
    {
        await using var kit = await StartAsync(app, "batch-grace", Settings(batchDelayMs: 1000, keys: ["email"]),
            seed: s => { for (var i = 0; i < 300; i++) s.SeedLead($"grace{i}@example.com"); });
        await kit.SendAsync([.. Enumerable.Range(0, 295).Select(i => Identify($"grace-{i}", $"grace{i}@example.com"))]);

        await kit.AdvanceAsync(Delay);
        await Task.Delay(300);
        Assert.Equal(0, kit.LookupCalls);   // 295 of 300 when the delay is up: the grace (5 % of it) is waited

        await kit.SendAsync([.. Enumerable.Range(295, 5).Select(i => Identify($"grace-{i}", $"grace{i}@example.com"))]);
        await WaitUntilAsync(() => Task.FromResult(kit.LookupCalls == 1), "the filled batch");
        Assert.Equal(300, kit.Sandbox.Counters.LookupValues);
        kit.AssertMarketoLimitsKept();
    }
}
