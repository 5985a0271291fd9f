using KarteMarketo.IntegrationTests.Infrastructure;

namespace KarteMarketo.IntegrationTests.Outbox;

/// <summary>
/// The activity outbox on PostgreSQL with real processes (host and sandbox) on the wall clock: a Marketo outage and a
/// host crash lose nothing and send nothing twice.
/// </summary>
public sealed class OutboxDeliveryTests
{
    [Fact]
    public async Task Thousand_activities_accepted_during_a_30_second_marketo_outage_are_all_delivered_once_after_it()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        var flow = await OutboxFlow.StartSandboxAsync();
        await using var sandbox = flow.Sandbox;
        await using var host = await HostProcess.StartAsync(OutboxFlow.HostOptions(db.ConnectionString, 0, 0, 0));
        await flow.CreateProjectAsync(host);

        // Marketo answers 503 to every custom-activity call for 30 s of wall clock (both processes run on it).
        await flow.InjectFaultAsync(new { kind = "HttpError", endpoint = "addCustomActivities", httpStatus = 503, durationSeconds = 30 });
        var outageStarted = DateTimeOffset.UtcNow;
        await flow.SendPurchasesAsync(host);

        // Accepted means stored: all 1,000 are in the table before anything reached Marketo.
        Assert.Equal(1000, await db.ScalarAsync<int>("SELECT count(*) FROM outbox_messages WHERE kind = 'activities'"));

        await OutboxFlow.WaitUntilAsync(async () => (await flow.AddedItemsAsync()).Count >= OutboxFlow.Count,
            TimeSpan.FromSeconds(150), "all activities added after the outage");
        var counters = await flow.CountersAsync();
        var refused = counters["callsByEndpointAndCode"]!["addCustomActivities"]!["http:503"]?.GetValue<int>() ?? 0;
        Assert.True(refused > 0, "the outage was never hit");
        Assert.True(DateTimeOffset.UtcNow - outageStarted >= TimeSpan.FromSeconds(30));

        await OutboxFlow.WaitUntilAsync(async () =>
                await db.ScalarAsync<int>("SELECT count(*) FROM outbox_messages WHERE status = 'delivered'") == OutboxFlow.Count,
            TimeSpan.FromSeconds(30), "rows marked delivered");
        OutboxFlow.AssertEachOnce(await flow.AddedItemsAsync());
        Assert.Equal(0, await db.ScalarAsync<int>("SELECT count(*) FROM outbox_messages WHERE possible_duplicate"));
        Assert.True(await db.ScalarAsync<int>("SELECT max(attempts) FROM outbox_messages") > 1);
    }

    [Fact]
    public async Task A_host_killed_while_the_outbox_drains_delivers_everything_once_after_a_restart()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        var flow = await OutboxFlow.StartSandboxAsync();
        await using var sandbox = flow.Sandbox;
        // The restarted host takes the same ports: Orleans sees the same silo with a newer generation and supersedes
        // the dead one at once instead of waiting for its probes to fail.
        var options = OutboxFlow.HostOptions(db.ConnectionString, FreePort.Next(), FreePort.Next(), FreePort.Next());
        var first = await HostProcess.StartAsync(options);
        try
        {
            await flow.CreateProjectAsync(first);
            // Lead lookups take 1.5 s at Marketo: each batch spends most of its time claimed but not yet sent, which
            // is where a crash lands most of the time (the window in which a resend could duplicate is the short one
            // between Marketo adding a batch and our commit of its result).
            await flow.InjectFaultAsync(new { kind = "Latency", endpoint = "getLeads", latencyMilliseconds = 1500 });
            await flow.SendPurchasesAsync(first);

            await OutboxFlow.WaitUntilAsync(async () => (await flow.AddedItemsAsync()).Count >= 300,
                TimeSpan.FromSeconds(120), "the first batch added");
            Assert.True((await flow.AddedItemsAsync()).Count < OutboxFlow.Count, "the outbox had drained before the crash");
            await first.KillAsync();
        }
        finally
        {
            await first.DisposeAsync();
        }
        var beforeRestart = (await flow.AddedItemsAsync()).Count;
        var claimedAtCrash = await db.ScalarAsync<int>("SELECT count(*) FROM outbox_messages WHERE status <> 'delivered'");
        Assert.True(claimedAtCrash > 0);

        await using var second = await HostProcess.StartAsync(options);
        await OutboxFlow.WaitUntilAsync(async () =>
                await db.ScalarAsync<int>("SELECT count(*) FROM outbox_messages WHERE status = 'delivered'") == OutboxFlow.Count,
            TimeSpan.FromSeconds(120), $"all delivered after the restart ({beforeRestart} were added before the crash)");

        OutboxFlow.AssertEachOnce(await flow.AddedItemsAsync());
        Assert.Equal(0, await db.ScalarAsync<int>("SELECT count(*) FROM outbox_messages WHERE possible_duplicate"));
    }
}
