using System.Collections.Concurrent;
using KarteMarketo.Grains.Storage;
using KarteMarketo.IntegrationTests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.TestingHost;

namespace KarteMarketo.IntegrationTests.Cluster;

/// <summary>
/// A reminder registered on PostgreSQL (our own reminders and clustering SQL) keeps firing after the cluster restarts:
/// the second cluster knows nothing in memory, only the row in <c>orleansreminderstable</c>.
/// Uses the legacy <see cref="TestClusterBuilder"/> because it can run real ADO.NET membership.
/// </summary>
public sealed class ReminderRestartTests
{
    [Fact]
    public async Task A_reminder_keeps_firing_after_the_silo_restarts()
    {
        await using var db = await TestPostgres.CreateDatabaseAsync();
        await new DatabaseMigrator(db.ConnectionString).MigrateAsync();
        var serviceId = "reminders-" + Guid.NewGuid().ToString("N")[..8];
        var key = "t:" + Guid.NewGuid().ToString("N");

        var first = await StartClusterAsync(db.ConnectionString, serviceId);
        try
        {
            await first.Client.GetGrain<ITestTickerGrain>(key).StartAsync();
            await TickLog.WaitForTicksAsync(key, count: 2, TimeSpan.FromSeconds(30));
        }
        finally
        {
            await first.StopAllSilosAsync();
            await first.DisposeAsync();
        }

        Assert.Equal(1, await db.ScalarAsync<int>($"SELECT count(*) FROM orleansreminderstable WHERE grainid LIKE '%{key}'"));
        var ticksBeforeRestart = TickLog.Count(key);

        // Nothing calls the grain now: only the stored reminder can activate it and make it tick.
        var second = await StartClusterAsync(db.ConnectionString, serviceId);
        try
        {
            await TickLog.WaitForTicksAsync(key, count: ticksBeforeRestart + 2, TimeSpan.FromSeconds(60));
            await second.Client.GetGrain<ITestTickerGrain>(key).StopAsync();
        }
        finally
        {
            await second.StopAllSilosAsync();
            await second.DisposeAsync();
        }
        Assert.Equal(0, await db.ScalarAsync<int>($"SELECT count(*) FROM orleansreminderstable WHERE grainid LIKE '%{key}'"));
    }

    private static async Task<TestCluster> StartClusterAsync(string connectionString, string serviceId)
    {
        var builder = new TestClusterBuilder(1);
        builder.Options.UseTestClusterMembership = false; // real ADO.NET membership on our SQL
        builder.Options.ServiceId = serviceId;
        builder.Options.ClusterId = serviceId;
        builder.Properties[PostgresSiloConfigurator.ConnectionStringKey] = connectionString;
        builder.AddSiloBuilderConfigurator<PostgresSiloConfigurator>();
        builder.AddClientBuilderConfigurator<PostgresClientConfigurator>();
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }
}

public sealed class PostgresSiloConfigurator : ISiloConfigurator
{
    public const string ConnectionStringKey = "TestPostgresConnectionString";

    public void Configure(ISiloBuilder siloBuilder)
    {
        var connectionString = siloBuilder.Configuration[ConnectionStringKey]!;
        siloBuilder.UseAdoNetClustering(o => { o.Invariant = "Npgsql"; o.ConnectionString = connectionString; });
        siloBuilder.UseAdoNetReminderService(o => { o.Invariant = "Npgsql"; o.ConnectionString = connectionString; });
        siloBuilder.AddAdoNetGrainStorageAsDefault(o => { o.Invariant = "Npgsql"; o.ConnectionString = connectionString; });
        siloBuilder.UseSystemTextJsonGrainStorageSerializer();
        // A 1 s reminder so the test sees ticks in seconds (the production minimum is 1 min).
        siloBuilder.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
    }
}

public sealed class PostgresClientConfigurator : IClientBuilderConfigurator
{
    public void Configure(IConfiguration configuration, IClientBuilder clientBuilder)
    {
        var connectionString = configuration[PostgresSiloConfigurator.ConnectionStringKey]!;
        clientBuilder.UseAdoNetClustering(o => { o.Invariant = "Npgsql"; o.ConnectionString = connectionString; });
    }
}

/// <summary>Ticks observed by <see cref="TestTickerGrain"/> (the test cluster's silos run in this process).</summary>
internal static class TickLog
{
    private static readonly ConcurrentDictionary<string, int> Ticks = new();
    private static readonly object Gate = new();
    private static readonly List<(string Key, int Count, TaskCompletionSource Done)> Waiters = [];

    public static int Count(string key) => Ticks.GetValueOrDefault(key);

    public static void Record(string key)
    {
        var count = Ticks.AddOrUpdate(key, 1, (_, c) => c + 1);
        lock (Gate)
        {
            foreach (var waiter in Waiters.Where(w => w.Key == key && count >= w.Count).ToList())
            {
                waiter.Done.TrySetResult();
                Waiters.Remove(waiter);
            }
        }
    }

    public static async Task WaitForTicksAsync(string key, int count, TimeSpan timeout)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (Gate)
        {
            if (Count(key) >= count) return;
            Waiters.Add((key, count, done));
        }
        try
        {
            await done.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"saw {Count(key)} of {count} ticks of {key} within {timeout}");
        }
    }
}

[Alias("KarteMarketo.IntegrationTests.ITestTickerGrain")]
public interface ITestTickerGrain : IGrainWithStringKey
{
    [Alias("StartAsync")] Task StartAsync();
    [Alias("StopAsync")] Task StopAsync();
}

[GrainType("test-ticker")]
public sealed class TestTickerGrain : Grain, ITestTickerGrain, IRemindable
{
    private const string ReminderName = "tick";

    public Task StartAsync() => this.RegisterOrUpdateReminder(ReminderName, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));

    public async Task StopAsync()
    {
        var reminder = await this.GetReminder(ReminderName);
        if (reminder is not null) await this.UnregisterReminder(reminder);
    }

    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        TickLog.Record(this.GetPrimaryKeyString());
        return Task.CompletedTask;
    }
}
