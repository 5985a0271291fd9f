using System.Text.Json.Nodes;

namespace KarteMarketo.Grains.Flows.MarketoActivities;

/// <summary>
/// Events recorded from Marketo webhooks (PostgreSQL in production, memory in the embedded default). An event is kept
/// against the users found when it arrived and against the lead keys it carried, so a user that links to one of
/// those keys later sees it too. Throws <see cref="Storage.StoreUnavailableException"/> when the database is down.
/// </summary>
public interface IWebhookEventStore
{
    /// <summary>Records an event once per <see cref="NewWebhookEvent.DedupeKey"/>. A repeat records nothing and returns
    /// the first event's users.</summary>
    Task<WebhookRecordResult> RecordAsync(NewWebhookEvent newEvent, CancellationToken cancellationToken = default);

    /// <summary>The events of one user, newest first: recorded on the user, or carrying one of <paramref name="keys"/>.</summary>
    Task<IReadOnlyList<StoredWebhookEvent>> ListForUserAsync(string projectId, string userId, UserEventKeys keys, int limit,
        CancellationToken cancellationToken = default);
}

/// <summary>An event to record. Email is normalised (trimmed, lower case) before.</summary>
public sealed record NewWebhookEvent(
    string ProjectId,
    string? DedupeKey,
    string EventName,
    JsonObject Values,
    string? Email,
    long? LeadId,
    string? Cookie,
    IReadOnlyList<string> UserIds,
    DateTimeOffset ReceivedAt,
    DateTimeOffset? OccurredAt);

/// <summary>Whether the event was new, and the users it is recorded on.</summary>
public sealed record WebhookRecordResult(bool Created, long EventId, IReadOnlyList<string> UserIds);

/// <summary>A recorded event.</summary>
public sealed record StoredWebhookEvent(long Id, string EventName, JsonObject Values, DateTimeOffset ReceivedAt, DateTimeOffset? OccurredAt);

/// <summary>The lead keys a user is known by.</summary>
public sealed record UserEventKeys(IReadOnlyCollection<string> Emails, IReadOnlyCollection<string> Cookies, IReadOnlyCollection<long> LeadIds)
{
    public static UserEventKeys None { get; } = new([], [], []);
}
