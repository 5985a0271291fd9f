using System.Text.Json.Nodes;
using KarteMarketo.Contracts.Outbox;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Marketo;
using KarteMarketo.Grains.Projects;
using KarteMarketo.Grains.Identity;
using KarteMarketo.Marketo;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

using KarteMarketo.Grains.Outbox;

namespace KarteMarketo.Grains.Flows.CustomActivities;

/// <summary>
/// Sends a project's queued custom activities: resolves each row's lead id through its lead key grain (cached, else one
/// batched lookup), makes one <c>activities/external.json</c> call per batch of up to 300, and records each record's result.
/// </summary>
[GrainType("activity-dispatcher")]
public sealed partial class ActivityDispatcherGrain(
    IOutboxStore store,
    IProjectDirectory projects,
    IMarketoGateway gateway,
    IUserStore users,
    TimeProvider time,
    IOptions<OutboxOptions> options,
    ILogger<ActivityDispatcherGrain> logger)
    : OutboxDispatcherGrain(store, projects, time, options, logger), IActivityDispatcherGrain
{
    protected override OutboxKind Kind => OutboxKind.Activities;

    protected override async Task<BatchResult> SendBatchAsync(ProjectSettings settings, IReadOnlyList<OutboxRow> rows, Guid leaseId,
        CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        var outcomes = new List<OutboxOutcome>();
        var (leadIds, keyOf) = await ResolveLeadIdsAsync(rows, cancellationToken);

        var sendable = new List<(OutboxRow Row, CustomActivity Activity)>();
        foreach (var row in rows)
        {
            var resolution = leadIds[row.Id];
            switch (resolution.Status)
            {
                case LeadIdStatus.Found when resolution.LeadId is { } leadId:
                    var payload = ActivityPayload.FromJson(row.Payload);
                    sendable.Add((row, new CustomActivity(leadId, payload.ActivityDate, payload.ActivityTypeId,
                        payload.PrimaryAttributeValue, [.. payload.Attributes.Select(a => KeyValuePair.Create(a.Key, a.Value?.DeepClone()))])));
                    break;
                case LeadIdStatus.Deferred:
                    outcomes.Add(Release(row, now, Options.ThrottledDelay, "deferred", resolution.Error ?? "lead lookup deferred"));
                    break;
                case LeadIdStatus.Failed:
                    outcomes.Add(RetryOrFail(row, now, "lookup", resolution.Error ?? "lead lookup failed"));
                    break;
                default:
                    outcomes.Add(LeadNotFound(row, now, resolution.Error));
                    break;
            }
        }
        if (sendable.Count == 0) return new BatchResult(outcomes, null);

        var ids = sendable.Select(s => s.Row.Id).ToArray();
        var input = sendable.Select(s => s.Activity).ToList();
        var call = await gateway.CallAsync(ProjectId, settings, MarketoCallPurpose.Activities, async (client, connection, ct) =>
        {
            // The last write before Marketo sees the batch: rows found in flight with it after a crash may have been
            // added, so their resend is flagged as a possible duplicate.
            await MarkSendingOrThrowAsync(leaseId, ids, ct);
            return await client.AddCustomActivitiesAsync(connection, input, ct);
        }, cancellationToken);

        now = Time.GetUtcNow();
        CountCalls(call.Attempts);
        if (call.Value is not { } records)
        {
            outcomes.AddRange(CallFailed(sendable.Select(s => s.Row), call, now));
            // Throttled: the drain pauses as long as the rows wait.
            return new BatchResult(outcomes, call.Outcome is MarketoOutcome.Deferred deferred ? ThrottledFor(deferred) : null);
        }

        for (var i = 0; i < sendable.Count; i++)
        {
            var row = sendable[i].Row;
            var record = i < records.Count ? records[i] : null;
            if (record is null)
            {
                outcomes.Add(RetryOrFail(row, now, "missing", "Marketo returned no result for this record"));
            }
            else if (record.Status == "added" || (record.Status != "skipped" && record.Errors.Count == 0))
            {
                outcomes.Add(new OutboxOutcome(row.Id, OutboxStatus.Delivered, row.Attempts + 1, now)
                {
                    LeadId = sendable[i].Activity.LeadId,
                    MarketoGuid = record.MarketoGuid ?? record.Id?.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    Result = new JsonObject { ["status"] = record.Status, ["id"] = record.Id },
                    DeliveredAt = now,
                });
            }
            else
            {
                var error = record.Errors.FirstOrDefault() ?? new MarketoError("skipped", "Marketo skipped the activity");
                var result1 = new JsonObject
                {
                    ["status"] = record.Status,
                    ["errors"] = new JsonArray([.. record.Errors.Select(e => (JsonNode)new JsonObject { ["code"] = e.Code, ["message"] = e.Message })]),
                };
                // 1004: the lead is gone (deleted, merged) or not there yet. The key forgets the cached id, and the row's
                // first 1004 is retried at once, so the lead is looked up again once (a merge gives it another id);
                // anything else about the record will not change on a resend.
                if (error.Code == "1004")
                {
                    await ForgetLeadIdAsync(keyOf[row.Id], sendable[i].Activity.LeadId);
                    outcomes.Add(row.ErrorCode == "1004"
                        ? LeadNotFound(row, now, error.Message) with { LeadId = sendable[i].Activity.LeadId, Result = result1 }
                        : new OutboxOutcome(row.Id, OutboxStatus.Pending, row.Attempts + 1, now)
                            { LeadId = sendable[i].Activity.LeadId, ErrorCode = "1004", ErrorMessage = error.Message, Result = result1 });
                }
                else
                {
                    outcomes.Add(new OutboxOutcome(row.Id, OutboxStatus.Failed, row.Attempts + 1, now)
                        { LeadId = sendable[i].Activity.LeadId, ErrorCode = error.Code, ErrorMessage = error.Message, Result = result1 });
                }
            }
        }
        return new BatchResult(outcomes, null);
    }

    /// <summary>A lead that is not (yet) in Marketo: retried for a while, since the lead may be created meanwhile.</summary>
    private OutboxOutcome LeadNotFound(OutboxRow row, DateTimeOffset now, string? message)
    {
        var attempts = row.Attempts + 1;
        var text = message ?? "Lead not found";
        return now - row.CreatedAt >= Options.LeadNotFoundRetryFor
            ? new OutboxOutcome(row.Id, OutboxStatus.Failed, attempts, now) { ErrorCode = "1004", ErrorMessage = text }
            : new OutboxOutcome(row.Id, OutboxStatus.Pending, attempts, now + Options.LeadNotFoundRetryInterval)
                { ErrorCode = "1004", ErrorMessage = text };
    }

    private async Task ForgetLeadIdAsync(string? grainKey, long leadId)
    {
        if (grainKey is null) return;
        try
        {
            await GrainFactory.GetGrain<ILeadKeyGrain>(grainKey).ForgetLeadIdAsync(leadId);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The row is retried anyway; the key keeps the id until its next lookup.
            LogForgetFailed(Logger, ex, ProjectId);
        }
    }

    /// <summary>Asks each distinct lead key once, all at the same time, so that uncached keys share batched lookups.
    /// Returns each row's resolution and its key grain (null: no key known).</summary>
    private async Task<(Dictionary<long, LeadIdResolution> Resolutions, Dictionary<long, string?> Keys)> ResolveLeadIdsAsync(
        IReadOnlyList<OutboxRow> rows, CancellationToken cancellationToken)
    {
        var keyOf = new Dictionary<long, string?>();
        foreach (var row in rows)
        {
            keyOf[row.Id] = await LeadKeyOfAsync(row, cancellationToken);
        }

        var lookups = keyOf.Values.OfType<string>().Distinct(StringComparer.Ordinal).ToDictionary(k => k, k => ResolveAsync(k));
        await Task.WhenAll(lookups.Values);
        return (keyOf.ToDictionary(
            kv => kv.Key,
            kv => kv.Value is null
                ? new LeadIdResolution(LeadIdStatus.NotFound, null, "No email or cookie known for the user")
                : lookups[kv.Value].Result), keyOf);
    }

    private async Task<LeadIdResolution> ResolveAsync(string grainKey)
    {
        try
        {
            return await GrainFactory.GetGrain<ILeadKeyGrain>(grainKey).ResolveLeadIdAsync(MarketoCallPurpose.Activities);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return new LeadIdResolution(LeadIdStatus.Failed, null, ex.Message);
        }
    }

    /// <summary>The row's key by <see cref="LeadKeyPolicy.KeyForActivity"/>; the user's keys are read only where the
    /// row has no email.</summary>
    private async Task<string?> LeadKeyOfAsync(OutboxRow row, CancellationToken cancellationToken)
    {
        IReadOnlyList<UserKey> userKeys = row.Email is not { Length: > 0 } && row.UserId is { } userId
            ? await users.GetKeysAsync(ProjectId, userId, cancellationToken)
            : [];
        return LeadKeyPolicy.KeyForActivity(row.Email, userKeys, (string?)row.Payload["cookie"]) is { } key
            ? GrainKeys.LeadKey(ProjectId, key.Type, key.Value)
            : null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Outbox {ProjectId}/activities: a key could not forget a lead Marketo does not know")]
    private static partial void LogForgetFailed(ILogger logger, Exception ex, string projectId);
}
