using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Flows.KarteWriteBack;
using KarteMarketo.Grains.Identity;
using KarteMarketo.Marketo;

namespace KarteMarketo.Grains.Flows.MarketoActivities;

/// <summary>A Marketo webhook as the endpoint checked it: the event name, the dedupe key, the normalised keys it
/// carried (at least one) and its body (every field, <c>event_name</c> and <c>dedupe_key</c> included).</summary>
public sealed record MarketoWebhook(string EventName, string? DedupeKey, string? Email, long? LeadId, string? Cookie, JsonObject Body);

/// <summary>
/// Flow 2, Marketo webhook → KARTE event: finds the users the webhook's lead is linked to
/// (<see cref="LeadKeyPolicy.WebhookMatchOrder"/>), records the event once per dedupe key against those users and its
/// keys, and queues the KARTE event of every user it is recorded on. Also answers which events a user has.
/// </summary>
public sealed partial class MarketoActivityFlow(IWebhookEventStore events, IUserStore users, IGrainFactory grains,
    KarteWriteBackService karte, TimeProvider time)
{
    /// <summary>The event name where the webhook gives none.</summary>
    public const string DefaultEventName = "marketo_activity";

    /// <summary>Fields whose value is the time of the activity (Marketo's <c>{{system.dateTime}}</c> and the like).</summary>
    private static readonly string[] TimeFields = ["dateTime", "activityDate", "datetime", "activity_date", "date_time"];

    /// <summary>Records the webhook and queues its KARTE events, both stored before this returns (the endpoint's 200
    /// means both are durable). A repeat of a dedupe key records nothing and returns the first event's users; its
    /// KARTE events are queued again, which their delivery ids (event id and user) make a no-op.</summary>
    public async Task<WebhookRecordResult> RecordAsync(string projectId, ProjectSettings settings, MarketoWebhook webhook,
        CancellationToken cancellationToken)
    {
        var (values, occurredAt) = ValuesOf(webhook.Body, ZoneOf(settings.Marketo.TimeZone));
        var linked = await FindUsersAsync(projectId, settings.Marketo.InstanceId, webhook, cancellationToken);
        var recorded = await events.RecordAsync(new NewWebhookEvent(projectId, webhook.DedupeKey, webhook.EventName, values,
            webhook.Email, webhook.LeadId, webhook.Cookie, linked, time.GetUtcNow(), occurredAt), cancellationToken);
        await karte.EnqueueEventsAsync(projectId,
            [.. recorded.UserIds.Select(u => KarteWriteBackService.WebhookEvent(recorded.EventId, u, webhook.EventName, values))],
            cancellationToken);
        return recorded;
    }

    /// <summary>The events recorded for a user, newest first: on the user, or kept against one of its keys (or the
    /// lead ids they resolved to) before it linked. Null where the user has never been seen.</summary>
    public async Task<IReadOnlyList<StoredWebhookEvent>?> ListForUserAsync(string projectId, string userId, int limit,
        CancellationToken cancellationToken)
    {
        var keys = await users.GetKeysAsync(projectId, userId, cancellationToken);
        var emails = keys.Where(k => k.Type == LeadKeyType.Email).Select(k => k.Value).ToList();
        var cookies = keys.Where(k => k.Type == LeadKeyType.Cookie).Select(k => k.Value).ToList();
        // Events that came with a lead id only are found through the lead ids the user's keys resolved to.
        var views = await Task.WhenAll(keys.Select(k => grains.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(projectId, k.Type, k.Value)).GetAsync()));
        var leadIds = views.Select(v => v.LeadId).OfType<long>().Distinct().ToList();

        var found = await events.ListForUserAsync(projectId, userId, new UserEventKeys(emails, cookies, leadIds), limit, cancellationToken);
        if (found.Count == 0 && keys.Count == 0 && !await users.ExistsAsync(projectId, userId, cancellationToken)) return null;
        return found;
    }

    /// <summary>The users of the first place <see cref="LeadKeyPolicy.WebhookMatchOrder"/> names that has any (lead ids
    /// of the project's current Marketo instance only).</summary>
    private async Task<IReadOnlyList<string>> FindUsersAsync(string projectId, string instance, MarketoWebhook webhook,
        CancellationToken cancellationToken)
    {
        foreach (var match in LeadKeyPolicy.WebhookMatchOrder(webhook.Email, webhook.LeadId, webhook.Cookie))
        {
            IReadOnlyList<string> found = match.Key is { } key
                ? (await grains.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(projectId, key.Type, key.Value)).GetAsync()).LinkedUsers
                : await users.FindUsersByLeadIdAsync(projectId, instance, match.LeadId!.Value, cancellationToken);
            if (found.Count > 0) return found;
        }
        return [];
    }

    /// <summary>The event's values: every body field but <c>event_name</c> and <c>dedupe_key</c>, offset-less Marketo
    /// times read in the instance's zone; the first time field gives when the activity occurred.</summary>
    private static (JsonObject Values, DateTimeOffset? OccurredAt) ValuesOf(JsonObject body, TimeZoneInfo zone)
    {
        var values = new JsonObject();
        DateTimeOffset? occurredAt = null;
        foreach (var (name, value) in body)
        {
            if (name is "event_name" or "dedupe_key") continue;
            var converted = value?.DeepClone();
            if (value is JsonValue && value.GetValueKind() == JsonValueKind.String && TryReadMarketoTime(value.GetValue<string>(), zone, out var at))
            {
                converted = JsonValue.Create(at.ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture));
                if (TimeFields.Contains(name, StringComparer.Ordinal)) occurredAt ??= at;
            }
            values[name] = converted;
        }
        return (values, occurredAt);
    }

    private static TimeZoneInfo ZoneOf(string? id)
    {
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(string.IsNullOrWhiteSpace(id) ? MarketoLimits.DayTimeZoneId : id);
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            return TimeZoneInfo.FindSystemTimeZoneById(MarketoLimits.DayTimeZoneId);
        }
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?$")]
    private static partial Regex LocalDateTime();

    /// <summary>
    /// A time written the way <c>{{system.dateTime}}</c> renders it (<c>2013-08-08 16:36:13</c>): no offset, in the
    /// Marketo instance's time zone. Read in <paramref name="zone"/>; times that carry an offset are left as they are.
    /// </summary>
    public static bool TryReadMarketoTime(string text, TimeZoneInfo zone, out DateTimeOffset at)
    {
        at = default;
        var trimmed = text.Trim();
        if (!LocalDateTime().IsMatch(trimmed) ||
            !DateTime.TryParse(trimmed.Replace(' ', 'T'), CultureInfo.InvariantCulture, DateTimeStyles.None, out var local))
            return false;
        local = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        // In the autumn's repeated hour the earlier (daylight) reading is taken; a time in the spring gap is moved
        // forward by the gap, as a wall clock would be.
        if (zone.IsInvalidTime(local)) local = local.AddHours(1);
        var offset = zone.IsAmbiguousTime(local) ? zone.GetAmbiguousTimeOffsets(local).Max() : zone.GetUtcOffset(local);
        at = new DateTimeOffset(local, offset);
        return true;
    }
}
