using System.Net;
using KarteMarketo.Contracts;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.Grains.Flows.LeadSync;
using KarteMarketo.Grains.Identity;
using KarteMarketo.MarketoSandbox;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Runtime;
using Orleans.Storage;
using static KarteMarketo.FunctionalTests.Sync.SyncTestKit;

namespace KarteMarketo.FunctionalTests.Sync;

/// <summary>The server with its storage wrapped so that a test can count every write: grain state, the pending-lookup
/// journal and the user table.</summary>
public sealed class CountingStorageAppFactory : KarteMarketoAppFactory
{
    private int _writes;

    /// <summary>Storage writes of any kind so far.</summary>
    public int Writes => Volatile.Read(ref _writes);

    internal void Count() => Interlocked.Increment(ref _writes);

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureServices(services =>
        {
            foreach (var name in new[] { Grains.Storage.StorageNames.Grains, Grains.Storage.StorageNames.LeadKeys })
            {
                var storage = services.Single(d => d.ServiceType == typeof(IGrainStorage) && d.IsKeyedService && Equals(d.ServiceKey, name));
                var factory = storage.KeyedImplementationFactory ?? throw new InvalidOperationException("grain storage is not built by a factory");
                services.Remove(storage);
                services.AddKeyedSingleton<IGrainStorage>(name, (sp, key) => new CountingGrainStorage((IGrainStorage)factory(sp, key), this));
            }

            services.RemoveAll<IPendingLookupJournal>();
            services.AddSingleton<IPendingLookupJournal>(sp =>
                new CountingJournal(ActivatorUtilities.CreateInstance<InMemoryPendingLookupJournal>(sp), this));
            services.RemoveAll<IUserStore>();
            services.AddSingleton<IUserStore>(new CountingUserStore(new InMemoryUserStore(), this));
        });
    }

    private sealed class CountingGrainStorage(IGrainStorage inner, CountingStorageAppFactory counter) : IGrainStorage
    {
        public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
            inner.ReadStateAsync(stateName, grainId, grainState);

        public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            // The sync results tally stores earlier lookups' counts on its own timer: not a write of the path measured.
            if (stateName != Grains.Flows.LeadSync.SyncResultsGrain.StateName) counter.Count();
            return inner.WriteStateAsync(stateName, grainId, grainState);
        }

        public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            counter.Count();
            return inner.ClearStateAsync(stateName, grainId, grainState);
        }
    }

    private sealed class CountingJournal(IPendingLookupJournal inner, CountingStorageAppFactory counter) : IPendingLookupJournal
    {
        public Task MarkAsync(string projectId, LeadKeyType type, string value, DateTimeOffset at, CancellationToken cancellationToken = default)
        {
            counter.Count();
            return inner.MarkAsync(projectId, type, value, at, cancellationToken);
        }

        public Task ClearAsync(string projectId, LeadKeyType type, IReadOnlyCollection<string> values, DateTimeOffset upTo,
            CancellationToken cancellationToken = default)
        {
            counter.Count();
            return inner.ClearAsync(projectId, type, values, upTo, cancellationToken);
        }

        public Task<IReadOnlyList<PendingLookup>> FindOlderThanAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default) =>
            inner.FindOlderThanAsync(before, limit, cancellationToken);

        public Task<IReadOnlyList<PendingLookup>> TakeOverAsync(IReadOnlyCollection<string> deadHolders, int limit,
            CancellationToken cancellationToken = default) => inner.TakeOverAsync(deadHolders, limit, cancellationToken);
    }

    private sealed class CountingUserStore(IUserStore inner, CountingStorageAppFactory counter) : IUserStore
    {
        private T Counted<T>(T task)
        {
            counter.Count();
            return task;
        }

        public Task<IReadOnlyList<string>> LinkKeyAsync(string projectId, string userId, LeadKeyType type, string value,
            CancellationToken cancellationToken = default) => Counted(inner.LinkKeyAsync(projectId, userId, type, value, cancellationToken));
        public Task UnlinkKeyAsync(string projectId, string userId, LeadKeyType type, string value, long? leadId,
            CancellationToken cancellationToken = default) => Counted(inner.UnlinkKeyAsync(projectId, userId, type, value, leadId, cancellationToken));
        public Task<IReadOnlyList<string>> ClearLeadAsync(string projectId, IReadOnlyCollection<string> userIds, LeadKeyType syncedBy,
            CancellationToken cancellationToken = default) => Counted(inner.ClearLeadAsync(projectId, userIds, syncedBy, cancellationToken));
        public Task<int> ForgetOtherInstancesAsync(string projectId, string instance, CancellationToken cancellationToken = default) =>
            Counted(inner.ForgetOtherInstancesAsync(projectId, instance, cancellationToken));
        public Task<IReadOnlyList<string>> ListKeyValuesAsync(string projectId, LeadKeyType type, string? after, int limit,
            CancellationToken cancellationToken = default) => inner.ListKeyValuesAsync(projectId, type, after, limit, cancellationToken);
        public Task<IReadOnlyList<string>> ListUsersOfKeyAsync(string projectId, LeadKeyType type, string value, int limit,
            CancellationToken cancellationToken = default) => inner.ListUsersOfKeyAsync(projectId, type, value, limit, cancellationToken);
        public Task<int> CountKeyValuesAsync(string projectId, LeadKeyType type, CancellationToken cancellationToken = default) =>
            inner.CountKeyValuesAsync(projectId, type, cancellationToken);
        public Task<IReadOnlyList<UserKey>> GetKeysAsync(string projectId, string userId, CancellationToken cancellationToken = default) =>
            inner.GetKeysAsync(projectId, userId, cancellationToken);
        public Task<IReadOnlyList<string>> FindUsersByLeadIdAsync(string projectId, string instance, long leadId,
            CancellationToken cancellationToken = default) => inner.FindUsersByLeadIdAsync(projectId, instance, leadId, cancellationToken);
        public Task<bool> ExistsAsync(string projectId, string userId, CancellationToken cancellationToken = default) =>
            inner.ExistsAsync(projectId, userId, cancellationToken);
        public Task TouchUsersAsync(string projectId, IReadOnlyCollection<string> userIds, CancellationToken cancellationToken = default) =>
            Counted(inner.TouchUsersAsync(projectId, userIds, cancellationToken));
        public Task ApplySyncResultAsync(string projectId, IReadOnlyCollection<string> userIds, UserSyncUpdate update,
            CancellationToken cancellationToken = default) => Counted(inner.ApplySyncResultAsync(projectId, userIds, update, cancellationToken));
        public Task<StoredUserInfo?> GetUserInfoAsync(string projectId, string userId, CancellationToken cancellationToken = default) =>
            inner.GetUserInfoAsync(projectId, userId, cancellationToken);
        public Task<SegmentPage> GetSegmentAsync(string projectId, UserSegment segment, int limit, string? after,
            CancellationToken cancellationToken = default) => inner.GetSegmentAsync(projectId, segment, limit, after, cancellationToken);
    }
}

/// <summary>Deferred keys come back by themselves and cost nothing while they wait; a key fresh from realtime is not
/// looked up again by the periodic run of the same interval.</summary>
public sealed class DeferredAndFreshKeyTests(CountingStorageAppFactory app) : IClassFixture<CountingStorageAppFactory>
{
    private static readonly TimeZoneInfo Central = TimeZoneInfo.FindSystemTimeZoneById("America/Chicago");

    private static TimeSpan UntilAfterCentralMidnight(DateTimeOffset now)
    {
        var local = TimeZoneInfo.ConvertTime(now, Central);
        var nextMidnight = local.Date.AddDays(1);
        return new DateTimeOffset(nextMidnight, Central.GetUtcOffset(nextMidnight)) - now + TimeSpan.FromMinutes(1);
    }

    [Fact]
    public async Task Deferred_keys_are_looked_up_after_the_reset_without_an_identify_and_identifies_meanwhile_write_nothing()
    {
        // dailyLimit 5 less 10 % is 4 calls: describe and three lookups of 300. The fourth batch gets no permit.
        const int users = 1_200;
        await using var kit = await StartAsync(app, "deferred-backlog",
            Settings(realtime: true, batchDelayMs: 1000, periodic: false, more: s =>
                s["quota"] = new System.Text.Json.Nodes.JsonObject { ["dailyLimit"] = 5, ["reservePercent"] = 10 }),
            new SandboxOptions { DailyQuota = 5 },
            seed: s => { for (var i = 0; i < users; i++) s.SeedLead($"bk{i}@example.com"); });

        await kit.SendAsync([.. Enumerable.Range(0, users).Select(i => Identify($"bk-{i}", $"bk{i}@example.com"))]);
        await kit.AdvanceAsync(TimeSpan.FromSeconds(1));
        var deferred = new List<int>();
        await WaitUntilAsync(async () =>
        {
            deferred.Clear();
            for (var i = 0; i < users; i++)
                if (LastResultOf(await kit.GetUserAsync($"bk-{i}")) == "deferred") deferred.Add(i);
            return deferred.Count == 300 && await kit.SegmentCountAsync("marketo-lead-synced") == 900;
        }, "900 synced and 300 deferred on day 1", TimeSpan.FromSeconds(30));
        Assert.Equal(3, kit.LookupCalls);
        // Sync status counts them so, and shows why the 300 wait.
        var status = System.Text.Json.Nodes.JsonNode.Parse(await kit.Admin.GetStringAsync("/v1/projects/deferred-backlog/sync"))!;
        Assert.Equal((900L, 300L), ((long)status["results"]!["total"]!["synced"]!, (long)status["results"]!["total"]!["deferred"]!));
        var reason = status["lastErrors"]!.AsArray().Single(e => (string)e!["result"]! == "deferred")!;
        Assert.Equal(300, (int)reason["keys"]!);

        // Same day: identifies of the deferred keys ask nothing and write nothing (no state, journal or user row).
        await kit.AdvanceAsync(TimeSpan.FromMinutes(1));
        var writes = app.Writes;
        for (var round = 0; round < 3; round++)
        {
            await kit.SendAsync([.. deferred.Select(i => Identify($"bk-{i}", $"bk{i}@example.com"))]);
            await kit.AdvanceAsync(TimeSpan.FromSeconds(2));
        }
        Assert.Equal(writes, app.Writes);
        Assert.Equal(3, kit.LookupCalls);

        // After Marketo's midnight, with no identify at all: the backlog looks them up, 300 in one call.
        await kit.AdvanceAsync(UntilAfterCentralMidnight(app.Time.GetUtcNow()));
        await kit.AdvanceUntilAsync(TimeSpan.FromSeconds(30), async () => await kit.SegmentCountAsync("marketo-lead-synced") == users,
            "deferred users synced after the reset", TimeSpan.FromSeconds(20), () => kit.DumpAsync($"bk-{deferred[0]}"));
        Assert.Equal(4, kit.LookupCalls);
        Assert.Equal("synced", LastResultOf(await kit.GetUserAsync($"bk-{deferred[^1]}")));
        kit.AssertMarketoLimitsKept();
    }

    [Fact]
    public async Task A_key_looked_up_in_realtime_is_skipped_by_the_periodic_run_of_the_interval_but_sync_run_looks_it_up()
    {
        await using var kit = await StartAsync(app, "fresh-skip", Settings(realtime: true, batchDelayMs: 1000, periodic: true, intervalMinutes: 30),
            seed: s => { for (var i = 0; i < 50; i++) s.SeedLead($"fresh{i}@example.com"); });
        var events = Enumerable.Range(0, 50).Select(i => Identify($"fresh-{i}", $"fresh{i}@example.com")).ToList();
        var periodicOnly = Enumerable.Range(0, 5).Select(i => Identify($"late-{i}", $"late{i}@example.com")).ToList();

        await kit.SendAsync(events);
        await kit.AdvanceUntilAsync(TimeSpan.FromSeconds(1), async () => await kit.SegmentCountAsync("marketo-lead-synced") == 50, "realtime sync");
        Assert.Equal(50, kit.Sandbox.Counters.LookupValues);

        // Seen again inside the interval (and inside the resync window): queued for the periodic run, not looked up.
        await kit.AdvanceAsync(PeriodicSyncIntake.RecentlyQueuedFor);
        await kit.SendAsync(events);
        await app.Services.GetRequiredService<PeriodicSyncIntake>().WhenRefreshedAsync();
        await kit.AdvanceToNextTickAsync(TimeSpan.FromMinutes(30));
        await WaitUntilAsync(async () => (await kit.SchedulerStatusAsync()) is { Running: 0, Pending: 0 }, "periodic run done",
            diagnostics: () => kit.DumpAsync());
        Assert.Equal(50, kit.Sandbox.Counters.LookupValues);        // one lookup per key per interval

        // sync/run is a person asking: every queued email is looked up, even one realtime has just answered.
        for (var i = 0; i < 5; i++) kit.Sandbox.State.SeedLead($"late{i}@example.com");
        await kit.SendAsync(periodicOnly);
        await kit.AdvanceUntilAsync(TimeSpan.FromSeconds(1), async () => await kit.SegmentCountAsync("marketo-lead-synced") == 55, "late users synced");
        Assert.Equal(55, kit.Sandbox.Counters.LookupValues);
        using var run = await kit.Admin.PostAsync($"/v1/projects/{kit.ProjectId}/sync/run", null);
        Assert.Equal(HttpStatusCode.Accepted, run.StatusCode);
        await WaitUntilAsync(() => Task.FromResult(kit.Sandbox.Counters.LookupValues == 60), "sync/run looked them up again",
            diagnostics: () => kit.DumpAsync());
    }
}
