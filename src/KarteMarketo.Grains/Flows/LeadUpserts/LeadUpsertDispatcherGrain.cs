using KarteMarketo.Grains.Identity;
using System.Text.Json.Nodes;
using KarteMarketo.Contracts.Outbox;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Marketo;
using KarteMarketo.Grains.Projects;
using KarteMarketo.Marketo;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

using KarteMarketo.Grains.Outbox;
using KarteMarketo.Grains.Flows.LeadSync;

namespace KarteMarketo.Grains.Flows.LeadUpserts;

/// <summary>
/// Sends a project's queued lead upserts: one Sync Leads call (<c>createOrUpdate</c> by email) per batch of up to 300,
/// then Associate Lead once for each cookie that is not yet associated with the lead. Each lead id learned goes to the
/// lead key grains.
/// </summary>
[GrainType("lead-upsert-dispatcher")]
public sealed partial class LeadUpsertDispatcherGrain(
    IOutboxStore store,
    IProjectDirectory projects,
    IMarketoGateway gateway,
    TimeProvider time,
    IOptions<OutboxOptions> options,
    ILogger<LeadUpsertDispatcherGrain> logger)
    : OutboxDispatcherGrain(store, projects, time, options, logger), ILeadUpsertDispatcherGrain
{
    private const string Action = "createOrUpdate";
    private const string LookupField = "email";

    protected override OutboxKind Kind => OutboxKind.Leads;

    protected override async Task<BatchResult> SendBatchAsync(ProjectSettings settings, IReadOnlyList<OutboxRow> rows, Guid leaseId,
        CancellationToken cancellationToken)
    {
        var outcomes = new Dictionary<long, OutboxOutcome>();
        // Rows whose upsert Marketo already accepted only wait for their cookie association.
        var toAssociate = rows.Where(r => r.SyncedAt is not null && r.LeadId is not null)
            .Select(r => (Row: r, LeadId: r.LeadId!.Value, Synced: (JsonObject?)null))
            .ToList();
        var toSync = rows.Where(r => r.SyncedAt is null || r.LeadId is null).ToList();

        TimeSpan? pause = null;
        if (toSync.Count > 0)
        {
            pause = await SyncAsync(settings, toSync, leaseId, outcomes, toAssociate, cancellationToken);
        }
        if (pause is null && toAssociate.Count > 0)
        {
            pause = await AssociateAsync(settings, toAssociate, outcomes, cancellationToken);
        }
        else
        {
            var now = Time.GetUtcNow();
            foreach (var (row, leadId, synced) in toAssociate.Where(a => !outcomes.ContainsKey(a.Row.Id)))
                outcomes[row.Id] = Release(row, now, pause ?? Options.ThrottledDelay) with { LeadId = leadId, SyncedAt = row.SyncedAt ?? now, Result = synced };
        }
        return new BatchResult([.. outcomes.Values], pause);
    }

    private async Task<TimeSpan?> SyncAsync(ProjectSettings settings, List<OutboxRow> rows, Guid leaseId,
        Dictionary<long, OutboxOutcome> outcomes, List<(OutboxRow Row, long LeadId, JsonObject? Synced)> toAssociate,
        CancellationToken cancellationToken)
    {
        // Marketo warns that closely spaced upserts of one key can create duplicate leads: one record per email per
        // call, later rows' fields winning.
        var groups = rows.GroupBy(r => LeadPayload.FromJson(r.Payload).Email, StringComparer.Ordinal).ToList();
        var input = groups.Select(g =>
        {
            var record = new JsonObject();
            foreach (var row in g.OrderBy(r => r.Id))
            {
                foreach (var (name, value) in LeadPayload.FromJson(row.Payload).Fields) record[name] = value?.DeepClone();
            }
            record[LookupField] = g.Key;
            return record;
        }).ToList();
        var ids = rows.Select(r => r.Id).ToArray();

        var call = await gateway.CallAsync(ProjectId, settings, MarketoCallPurpose.Leads, async (client, connection, ct) =>
        {
            await MarkSendingOrThrowAsync(leaseId, ids, ct);
            return await client.SyncLeadsAsync(connection, Action, LookupField, input, ct);
        }, cancellationToken);

        var now = Time.GetUtcNow();
        CountCalls(call.Attempts);
        if (call.Value is not { } records)
        {
            foreach (var outcome in CallFailed(rows, call, now)) outcomes[outcome.Id] = outcome;
            // Throttled: the drain pauses as long as the rows wait.
            return call.Outcome is MarketoOutcome.Deferred deferred ? ThrottledFor(deferred) : null;
        }

        for (var i = 0; i < groups.Count; i++)
        {
            var record = i < records.Count ? records[i] : null;
            if (record is null)
            {
                foreach (var row in groups[i]) outcomes[row.Id] = RetryOrFail(row, now, "missing", "Marketo returned no result for this record");
                continue;
            }
            var synced = new JsonObject
            {
                ["status"] = record.Status,
                ["id"] = record.Id,
                ["reasons"] = new JsonArray([.. record.Reasons.Select(r => (JsonNode)new JsonObject { ["code"] = r.Code, ["message"] = r.Message })]),
            };
            if (record.Status == "skipped" || record.Id is null)
            {
                var reason = record.Reasons.FirstOrDefault();
                foreach (var row in groups[i])
                {
                    outcomes[row.Id] = new OutboxOutcome(row.Id, OutboxStatus.Skipped, row.Attempts + 1, now)
                        { Result = synced, ErrorCode = reason?.Code, ErrorMessage = reason?.Message };
                }
                continue;
            }

            var leadId = record.Id.Value;
            await RecordLeadIdAsync(LeadKeyType.Email, groups[i].Key, leadId);
            foreach (var row in groups[i])
            {
                if (LeadPayload.FromJson(row.Payload).Cookie is { Length: > 0 })
                {
                    toAssociate.Add((row with { Attempts = row.Attempts + 1, SyncedAt = now, LeadId = leadId }, leadId, synced));
                }
                else
                {
                    outcomes[row.Id] = new OutboxOutcome(row.Id, OutboxStatus.Delivered, row.Attempts + 1, now)
                        { LeadId = leadId, SyncedAt = now, Result = synced, DeliveredAt = now };
                }
            }
        }
        return null;
    }

    /// <summary>Associates each cookie with its lead, once: a cookie already associated with the same lead costs no call.</summary>
    private async Task<TimeSpan?> AssociateAsync(ProjectSettings settings, List<(OutboxRow Row, long LeadId, JsonObject? Synced)> rows,
        Dictionary<long, OutboxOutcome> outcomes, CancellationToken cancellationToken)
    {
        TimeSpan? pause = null;
        foreach (var (row, leadId, synced) in rows)
        {
            var cookie = LeadPayload.FromJson(row.Payload).Cookie!;
            // Associations belong to the instance and to the cookie's token: part (API.md, "Lead identity rules").
            var instance = settings.Marketo.InstanceId;
            var token = LeadKeyPolicy.CookieToken(cookie);
            var now = Time.GetUtcNow();
            var result = synced ?? (row.Result as JsonObject)?.DeepClone().AsObject() ?? [];
            if (pause is { } wait)
            {
                outcomes[row.Id] = Release(row, now, wait) with { LeadId = leadId, SyncedAt = row.SyncedAt, Result = result };
                continue;
            }

            if (await Store.GetCookieAssociationAsync(ProjectId, instance, token, cancellationToken) == leadId)
            {
                result["association"] = "already associated";
                outcomes[row.Id] = Delivered(row, leadId, result, now);
                continue;
            }

            var call = await gateway.CallAsync(ProjectId, settings, MarketoCallPurpose.Leads,
                (client, connection, ct) => client.AssociateLeadAsync(connection, leadId, cookie, ct), cancellationToken);
            now = Time.GetUtcNow();
            CountCalls(call.Attempts);
            switch (call.Outcome)
            {
                case MarketoOutcome.Completed:
                    await Store.RecordCookieAssociationAsync(ProjectId, instance, token, leadId, now, cancellationToken);
                    await RecordLeadIdAsync(LeadKeyType.Cookie, cookie, leadId);
                    result["association"] = "associated";
                    outcomes[row.Id] = Delivered(row, leadId, result, now);
                    break;
                case MarketoOutcome.Deferred deferred:
                    // Throttled: this row and the rest of the batch wait, without spending an attempt.
                    pause = ThrottledFor(deferred);
                    outcomes[row.Id] = Release(row, now, pause.Value, deferred.Error.Code, deferred.Error.Message)
                        with { LeadId = leadId, SyncedAt = row.SyncedAt, Result = result };
                    break;
                case MarketoOutcome.Failed { CredentialsRefused: false, Error: var error }:
                    // 1012 and the like: the cookie is wrong; the upsert itself went through.
                    result["association"] = "failed";
                    outcomes[row.Id] = new OutboxOutcome(row.Id, OutboxStatus.Failed, row.Attempts, now)
                        { LeadId = leadId, SyncedAt = row.SyncedAt, Result = result, ErrorCode = error.Code, ErrorMessage = error.Message };
                    break;
                default:
                    // Transient beyond the gateway's retries, or credentials refused (fixable in the settings): try again later.
                    outcomes[row.Id] = CallFailed([row], call, now).Single() with { LeadId = leadId, SyncedAt = row.SyncedAt, Result = result };
                    break;
            }
        }
        return pause;
    }

    private static OutboxOutcome Delivered(OutboxRow row, long leadId, JsonObject result, DateTimeOffset now) =>
        new(row.Id, OutboxStatus.Delivered, row.Attempts, now)
            { LeadId = leadId, SyncedAt = row.SyncedAt ?? now, Result = result, DeliveredAt = now };

    private async Task RecordLeadIdAsync(LeadKeyType type, string value, long leadId)
    {
        try
        {
            await GrainFactory.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(ProjectId, type, value)).RecordLeadIdAsync(leadId);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The upsert is done; the key grain learns the id on its next lookup anyway.
            LogRecordLeadIdFailed(Logger, ex, ProjectId);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Outbox {ProjectId}/leads: could not pass a lead id to its key grain")]
    private static partial void LogRecordLeadIdFailed(ILogger logger, Exception ex, string projectId);
}
