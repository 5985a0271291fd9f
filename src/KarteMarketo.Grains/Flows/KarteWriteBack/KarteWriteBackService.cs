using System.Text.Json.Nodes;
using KarteMarketo.Contracts.Outbox;
using KarteMarketo.Grains.Projects;
using KarteMarketo.Grains.Flows.MarketoActivities;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Flows.KarteWriteBack;

/// <summary>
/// The door other flows use to write to KARTE: stores the writes (before the caller answers) and wakes the project's
/// dispatcher. Nothing is stored when the project does not write to KARTE (<c>karte.enabled</c> false).
/// </summary>
public sealed partial class KarteWriteBackService(
    IKarteWriteQueue queue,
    IProjectDirectory projects,
    IWebhookEventStore webhookEvents,
    IGrainFactory grains,
    TimeProvider time,
    ILogger<KarteWriteBackService> logger)
{
    /// <summary>The user-info instruction a sync result carries, or null when the project does not write to KARTE.</summary>
    public static KarteUserInfoWrite? UserInfoWriteFor(ProjectSettings? settings) =>
        settings?.Karte is { IsActive: true } karte ? new KarteUserInfoWrite(karte.WriteOnlyOnChange) : null;

    /// <summary>
    /// Users whose lead is gone (no longer found in Marketo after one was): each is written once as
    /// <c>{ "marketo": null, "marketo_hash": null }</c> (again only after a lead was written for them since). For the
    /// identity flow's clearing of gone leads: call it before the clearing's commit returns. Returns rows queued.
    /// </summary>
    public async Task<int> EnqueueLeadGoneAsync(string projectId, IReadOnlyCollection<string> userIds, CancellationToken cancellationToken = default)
    {
        if (userIds.Count == 0 || UserInfoWriteFor((await projects.GetAsync(projectId))?.Settings) is null) return 0;
        var now = time.GetUtcNow();
        var writes = userIds.Where(KarteWritePayload.IsWritableUserId)
            .Select(u => new KarteQueuedWrite($"gone:{now.UtcTicks}:{u}", u, KarteWritePayload.IdentifyEvent, KarteWritePayload.GoneValues())
                { ValuesHash = KarteWritePayload.GoneHash, OnlyOnChange = true })
            .ToList();
        return await QueueAndWakeAsync(projectId, writes, now, cancellationToken);
    }

    /// <summary>Events for KARTE (a Marketo webhook event for each linked user). An event's delivery id makes a
    /// repeat of the same event and user a no-op. Returns rows queued.</summary>
    public async Task<int> EnqueueEventsAsync(string projectId, IReadOnlyList<KarteEventWrite> events, CancellationToken cancellationToken = default)
    {
        if (events.Count == 0 || UserInfoWriteFor((await projects.GetAsync(projectId))?.Settings) is null) return 0;
        var writes = events.Where(e => KarteWritePayload.IsWritableUserId(e.UserId))
            .Select(e => new KarteQueuedWrite(e.DeliveryId, e.UserId, e.EventName, e.Values))
            .ToList();
        return await QueueAndWakeAsync(projectId, writes, time.GetUtcNow(), cancellationToken);
    }

    /// <summary>The KARTE write of a recorded Marketo webhook event for one user: name and values as
    /// <c>GET …/users/{userId}/events</c> shows them; one per event and user.</summary>
    public static KarteEventWrite WebhookEvent(long eventId, string userId, string eventName, JsonObject values) =>
        new($"marketo-event:{eventId}:{userId}", userId, eventName, values);

    /// <summary>
    /// A user just linked to a lead key: the Marketo webhook events its events listing now shows through that key
    /// (kept against the key before the user existed, or recorded on other users of the key) are written for it too.
    /// Events already written for the user are not written again (same delivery ids). Returns rows queued.
    /// </summary>
    public async Task<int> EnqueueEventsForNewLinkAsync(string projectId, string userId, LeadKeyType type, string value,
        CancellationToken cancellationToken = default)
    {
        if (UserInfoWriteFor((await projects.GetAsync(projectId))?.Settings) is null) return 0;
        var keys = type == LeadKeyType.Email ? new UserEventKeys([value], [], []) : new UserEventKeys([], [value], []);
        var events = await webhookEvents.ListForUserAsync(projectId, userId, keys, MaxEventsPerLink, cancellationToken);
        if (events.Count == 0) return 0;
        // Oldest first, as they happened.
        return await EnqueueEventsAsync(projectId,
            [.. events.OrderBy(e => e.Id).Select(e => WebhookEvent(e.Id, userId, e.EventName, e.Values))], cancellationToken);
    }

    /// <summary>Events written for a user that links to a key (the newest ones, where a key has more).</summary>
    public const int MaxEventsPerLink = 1_000;

    private async Task<int> QueueAndWakeAsync(string projectId, List<KarteQueuedWrite> writes, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (writes.Count == 0) return 0;
        var added = await queue.EnqueueAsync(projectId, writes, now, cancellationToken);
        if (added > 0) await WakeAsync(grains, projectId, added, logger);
        return added;
    }

    /// <summary>Tells the project's dispatcher that rows were stored. A failure only delays them until the outbox scan.</summary>
    public static async Task WakeAsync(IGrainFactory grains, string projectId, int added = 1, ILogger? logger = null)
    {
        try
        {
            await grains.GetGrain<IKarteWriteDispatcherGrain>(GrainKeys.KarteWriteDispatcher(projectId)).WakeAsync(added);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            if (logger is not null) LogWakeFailed(logger, ex, projectId);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project {ProjectId}: the KARTE dispatcher was not woken; the outbox scan will find its rows")]
    private static partial void LogWakeFailed(ILogger logger, Exception ex, string projectId);
}

/// <summary>An event to write to one KARTE user.</summary>
public sealed record KarteEventWrite(string DeliveryId, string UserId, string EventName, JsonObject Values);
