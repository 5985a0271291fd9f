using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.Grains.Outbox;
using KarteMarketo.Grains.Flows.CustomActivities;
using KarteMarketo.Grains.Flows.LeadUpserts;
using KarteMarketo.Grains.Storage;
using KarteMarketo.MarketoSandbox;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace KarteMarketo.FunctionalTests.Outbox;

/// <summary>The server with an outbox store whose writes of outcomes can be made to fail, as when the database goes
/// away just after Marketo answered.</summary>
public sealed class FlakyOutboxAppFactory : KarteMarketoAppFactory
{
    public FlakyOutboxStore Store { get; } = new(new InMemoryOutboxStore());

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureServices(services =>
        {
            services.RemoveAll<IOutboxStore>();
            services.AddSingleton<IOutboxStore>(Store);
        });
    }
}

/// <summary>Delegates to a real store; <see cref="FailCompletes"/> makes the next outcome writes throw as if the database were down.</summary>
public sealed class FlakyOutboxStore(IOutboxStore inner) : IOutboxStore
{
    private int _failCompletes;

    public int FailedCompletes { get; private set; }

    public void FailCompletes(int count) => Interlocked.Exchange(ref _failCompletes, count);

    public Task CompleteAsync(Guid leaseId, IReadOnlyList<OutboxOutcome> outcomes, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        if (Interlocked.Decrement(ref _failCompletes) >= 0)
        {
            FailedCompletes++;
            throw new StoreUnavailableException("The database is unavailable.", new TimeoutException("test"));
        }
        return inner.CompleteAsync(leaseId, outcomes, now, cancellationToken);
    }

    public Task<IReadOnlySet<string>> EnqueueAsync(string projectId, OutboxKind kind, IReadOnlyList<OutboxEntry> entries, DateTimeOffset now,
        CancellationToken cancellationToken = default) => inner.EnqueueAsync(projectId, kind, entries, now, cancellationToken);
    public Task<IReadOnlyList<OutboxRow>> ClaimAsync(string projectId, OutboxKind kind, int limit, int minimum, Guid leaseId, DateTimeOffset now,
        DateTimeOffset leaseUntil, CancellationToken cancellationToken = default) =>
        inner.ClaimAsync(projectId, kind, limit, minimum, leaseId, now, leaseUntil, cancellationToken);
    public Task<int> MarkSendingAsync(Guid leaseId, IReadOnlyCollection<long> ids, DateTimeOffset now, CancellationToken cancellationToken = default) =>
        inner.MarkSendingAsync(leaseId, ids, now, cancellationToken);
    public Task<int> RecoverAsync(string projectId, OutboxKind kind, DateTimeOffset now, CancellationToken cancellationToken = default) =>
        inner.RecoverAsync(projectId, kind, now, cancellationToken);
    public Task<IReadOnlyList<OutboxWork>> TakeOverAsync(IReadOnlyCollection<string> deadHolders, DateTimeOffset now, CancellationToken cancellationToken = default) =>
        inner.TakeOverAsync(deadHolders, now, cancellationToken);
    public Task<DateTimeOffset?> NextDueAsync(string projectId, OutboxKind kind, CancellationToken cancellationToken = default) =>
        inner.NextDueAsync(projectId, kind, cancellationToken);
    public Task<IReadOnlyList<OutboxWork>> FindWorkAsync(DateTimeOffset now, CancellationToken cancellationToken = default) =>
        inner.FindWorkAsync(now, cancellationToken);
    public Task<IReadOnlyList<OutboxRow>> ListAsync(string projectId, OutboxKind kind, IReadOnlyCollection<string>? statuses, int limit,
        CancellationToken cancellationToken = default) => inner.ListAsync(projectId, kind, statuses, limit, cancellationToken);
    public Task<IReadOnlyDictionary<string, long>> CountByStatusAsync(string projectId, OutboxKind kind, CancellationToken cancellationToken = default) =>
        inner.CountByStatusAsync(projectId, kind, cancellationToken);
    public Task<int> MakeDueAsync(string projectId, OutboxKind kind, DateTimeOffset now, CancellationToken cancellationToken = default) =>
        inner.MakeDueAsync(projectId, kind, now, cancellationToken);
    public Task<int> RetryFailedAsync(string projectId, OutboxKind kind, IReadOnlyCollection<long>? ids, int limit, DateTimeOffset now,
        CancellationToken cancellationToken = default) => inner.RetryFailedAsync(projectId, kind, ids, limit, now, cancellationToken);
    public Task<long?> GetCookieAssociationAsync(string projectId, string instance, string token, CancellationToken cancellationToken = default) =>
        inner.GetCookieAssociationAsync(projectId, instance, token, cancellationToken);
    public Task RecordCookieAssociationAsync(string projectId, string instance, string token, long leadId, DateTimeOffset now,
        CancellationToken cancellationToken = default) => inner.RecordCookieAssociationAsync(projectId, instance, token, leadId, now, cancellationToken);
}

/// <summary>
/// Marketo added a batch, then its outcomes could not be written: the dispatcher keeps them and writes them once the
/// store is back, before claiming anything, so the batch is not sent again.
/// </summary>
public sealed class UnrecordedOutcomeTests(FlakyOutboxAppFactory app) : IClassFixture<FlakyOutboxAppFactory>
{
    [Fact]
    public async Task Outcomes_that_could_not_be_written_are_written_later_and_nothing_is_sent_twice()
    {
        await using var sandbox = await SandboxServer.StartAsync(timeProvider: app.Time);
        var typeId = sandbox.State.AddActivityType("karte_view", "KARTE view", "page");
        var project = await app.CreateProjectAsync("flaky", sandbox.RestEndpoint, sandbox.IdentityEndpoint, sandbox.ClientId, sandbox.ClientSecret,
            settings => settings["activityMappings"] = new JsonArray(new JsonObject
            {
                ["event"] = "view", ["activityTypeId"] = typeId, ["primaryAttribute"] = "page", ["attributes"] = new JsonObject(),
            }));
        var events = new JsonArray([.. Enumerable.Range(0, 10).Select(i =>
        {
            sandbox.State.SeedLead($"viewer{i}@example.com");
            return (JsonNode)new JsonObject
            {
                ["id"] = $"view-{i}", ["email"] = $"viewer{i}@example.com", ["event"] = "view", ["values"] = new JsonObject { ["page"] = $"/p/{i}" },
            };
        })]);

        app.Store.FailCompletes(3);
        using var client = app.CreateProjectClient(project.ApiKey);
        using (var response = await client.PostAsJsonAsync("/v1/projects/flaky/webhooks/karte", events))
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        await OutboxTestKit.AdvanceUntilAsync(app, async () =>
        {
            using var admin = app.CreateAdminClient();
            var rows = (await OutboxTestKit.GetJsonAsync(admin, "/v1/projects/flaky/activities?status=delivered"))["activities"]!.AsArray();
            return rows.Count == 10;
        }, what: "delivered once the store is back");

        Assert.Equal(3, app.Store.FailedCompletes);
        Assert.Equal(1, sandbox.Counters.CallsTo(SandboxEndpointNames.AddCustomActivities));
        Assert.Equal(10, sandbox.Counters.ActivitiesAdded.Count);
        Assert.Equal(10, sandbox.Counters.ActivitiesAdded.Select(a => a.PrimaryAttributeValue).Distinct().Count());
    }
}
