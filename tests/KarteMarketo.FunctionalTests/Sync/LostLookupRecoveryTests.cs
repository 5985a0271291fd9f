using KarteMarketo.Contracts;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.Grains.Storage;
using KarteMarketo.Grains.Flows.LeadSync;
using KarteMarketo.Grains.Identity;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Orleans.Runtime;
using Orleans.Storage;
using static KarteMarketo.FunctionalTests.Sync.SyncTestKit;

namespace KarteMarketo.FunctionalTests.Sync;

/// <summary>
/// A realtime lookup lives only in its silo's batcher until answered. These tests recreate what a killed silo leaves
/// behind (a key stored as pending, its journal record, and no lookup queued anywhere) and check that the recovery
/// queues it again, once, and that answered lookups leave no record behind.
/// </summary>
public sealed class LostLookupRecoveryTests(KarteMarketoAppFactory app) : IClassFixture<KarteMarketoAppFactory>
{
    private static readonly TimeSpan BatchDelay = TimeSpan.FromSeconds(1);

    private IPendingLookupJournal Journal => app.Services.GetRequiredService<IPendingLookupJournal>();

    private async Task<List<PendingLookup>> RecordsOfAsync(string projectId) =>
        (await Journal.FindOlderThanAsync(DateTimeOffset.MaxValue, 100_000)).Where(r => r.ProjectId == projectId).ToList();

    /// <summary>What a silo killed right after accepting an identify leaves: the user linked, the key stored as
    /// pending, the journal record; the queued lookup died with the silo's batcher.</summary>
    private async Task StoreLostLookupAsync(SyncTestKit kit, string userId, string email, DateTimeOffset requestedAt)
    {
        await app.Services.GetRequiredService<IUserStore>().LinkKeyAsync(kit.ProjectId, userId, LeadKeyType.Email, email);
        var key = GrainKeys.LeadKey(kit.ProjectId, LeadKeyType.Email, email);
        var stored = new LeadKeyState { LastResult = SyncResult.Pending, LastRequestAt = requestedAt };
        await app.Services.GetRequiredKeyedService<IGrainStorage>(StorageNames.LeadKeys)
            .WriteStateAsync("lead-key-state", GrainId.Create("lead-key", key), new GrainState<LeadKeyState>(stored));
        await Journal.MarkAsync(kit.ProjectId, LeadKeyType.Email, email, requestedAt);
    }

    [Fact]
    public async Task A_lookup_lost_with_its_silo_is_queued_again_after_the_recovery_time_and_synced_once()
    {
        long leadId = 0;
        await using var kit = await StartAsync(app, "lost-lookup", Settings(batchDelayMs: 1000), seed: s => leadId = s.SeedLead("lost@example.com"));
        var requestedAt = app.Time.GetUtcNow();

        await StoreLostLookupAsync(kit, "lost-user", "lost@example.com", requestedAt);

        // Before the recovery time nothing happens: the lookup may still be on its way.
        await kit.AdvanceAsync(TimeSpan.FromSeconds(45));
        await Task.Delay(300);
        Assert.Equal(0, kit.LookupCalls);
        Assert.Equal("pending", LastResultOf(await kit.GetUserAsync("lost-user")));

        // After it, the scan wakes the key, which queues the lookup again.
        await kit.AdvanceAsync(TimeSpan.FromSeconds(16));
        await app.Services.GetRequiredService<PendingLookupRecovery>().ScanOnceAsync();
        await kit.AdvanceUntilAsync(BatchDelay, async () => LeadIdOf(await kit.GetUserAsync("lost-user")) == leadId, "the lost user synced",
            diagnostics: () => kit.DumpAsync("lost-user"));
        Assert.Equal(1, kit.LookupCalls);
        Assert.Empty(await RecordsOfAsync(kit.ProjectId));

        // A scan from every silo, and time moving on, look nothing up again.
        await app.Services.GetRequiredService<PendingLookupRecovery>().ScanOnceAsync();
        await kit.AdvanceAsync(TimeSpan.FromMinutes(5));
        await Task.Delay(300);
        Assert.Equal(1, kit.LookupCalls);
        kit.AssertMarketoLimitsKept();
    }

    [Fact]
    public async Task A_late_identify_of_a_key_whose_lookup_was_lost_repeats_nothing_and_the_journal_recovers_it_once()
    {
        long leadId = 0;
        await using var kit = await StartAsync(app, "lost-late", Settings(batchDelayMs: 1000), seed: s => leadId = s.SeedLead("late@example.com"));
        // Lost long ago (far beyond any window or time-out an identify could apply): pending, journalled, queued nowhere.
        var requestedAt = app.Time.GetUtcNow() - TimeSpan.FromHours(1);
        await StoreLostLookupAsync(kit, "late-user", "late@example.com", requestedAt);

        // Identifies of the pending key (a known user and a new one) link the new user and start no second lookup:
        // the window start and the journal record stay those of the lost lookup.
        await kit.SendAsync([Identify("late-user", "late@example.com"), Identify("late-newcomer", "late@example.com")]);
        var user = await kit.GetUserAsync("late-user");
        Assert.Equal("pending", LastResultOf(user));
        Assert.Equal(requestedAt, (DateTimeOffset)user!["sync"]!["lastRequestAt"]!);
        Assert.Equal(new[] { requestedAt }, (await RecordsOfAsync(kit.ProjectId)).Select(r => r.RequestedAt));
        Assert.Equal(0, kit.LookupCalls);

        // The journal's recovery queues it again: one call, and both users get the lead.
        await app.Services.GetRequiredService<PendingLookupRecovery>().ScanOnceAsync();
        await kit.AdvanceUntilAsync(BatchDelay, async () => LeadIdOf(await kit.GetUserAsync("late-newcomer")) == leadId
            && LeadIdOf(await kit.GetUserAsync("late-user")) == leadId, "both users synced", diagnostics: () => kit.DumpAsync("late-user", "late-newcomer"));
        Assert.Equal(1, kit.LookupCalls);
        Assert.Empty(await RecordsOfAsync(kit.ProjectId));
        kit.AssertMarketoLimitsKept();
    }

    [Fact]
    public async Task Answered_lookups_leave_no_record_and_a_stale_record_of_an_answered_key_is_dropped_without_a_call()
    {
        await using var kit = await StartAsync(app, "lost-answered", Settings(batchDelayMs: 1000), seed: s =>
        {
            for (var i = 0; i < 5; i++) s.SeedLead($"answered{i}@example.com");
        });
        await kit.SendAsync([.. Enumerable.Range(0, 6).Select(i => Identify($"answered-{i}", $"answered{i}@example.com"))]);
        Assert.Equal(6, (await RecordsOfAsync(kit.ProjectId)).Count);    // written before the 202

        await kit.AdvanceUntilAsync(BatchDelay, async () => LastResultOf(await kit.GetUserAsync("answered-5")) == "notFound"
            && LeadIdOf(await kit.GetUserAsync("answered-4")) is not null, "lookups answered");
        await WaitUntilAsync(async () => (await RecordsOfAsync(kit.ProjectId)).Count == 0, "journal cleared by the batcher");
        Assert.Equal(1, kit.LookupCalls);

        // A record left behind (its clearing failed) only makes the key drop it.
        await Journal.MarkAsync(kit.ProjectId, LeadKeyType.Email, "answered0@example.com", app.Time.GetUtcNow());
        await kit.AdvanceAsync(TimeSpan.FromMinutes(2));
        await app.Services.GetRequiredService<PendingLookupRecovery>().ScanOnceAsync();
        await WaitUntilAsync(async () => (await RecordsOfAsync(kit.ProjectId)).Count == 0, "stale record dropped");
        await kit.AdvanceAsync(BatchDelay);
        await Task.Delay(200);
        Assert.Equal(1, kit.LookupCalls);
    }
}
