using System.Text.Json.Nodes;

using KarteMarketo.Grains.Flows.CustomActivities;
using KarteMarketo.Grains.Flows.LeadUpserts;

namespace KarteMarketo.Grains.Outbox;

/// <summary>The outboxes: custom activities and lead upserts (to Marketo), and writes to KARTE.</summary>
public enum OutboxKind
{
    Activities = 0,
    Leads = 1,
    /// <summary>Events written to KARTE (user info as <c>identify</c>, Marketo activities): Flows/KarteWriteBack.</summary>
    Karte = 2,
}

/// <summary>Row statuses. <c>skipped</c> is Marketo's own per-record refusal of a lead upsert.</summary>
public static class OutboxStatus
{
    public const string Pending = "pending";
    public const string InFlight = "in_flight";
    public const string Delivered = "delivered";
    public const string Skipped = "skipped";
    public const string Failed = "failed";

    public static IReadOnlySet<string> All { get; } =
        new HashSet<string>(StringComparer.Ordinal) { Pending, InFlight, Delivered, Skipped, Failed };
}

public static class OutboxKindExtensions
{
    /// <summary>Whether a user's rows must reach the remote in the order they were queued (KARTE's writes: user info and
    /// events of one user). Then a row is not claimed while an earlier row of its user waits for a retry or is held by
    /// another lease (a dispatcher on a host that died, until its lease ends or the takeover releases it).</summary>
    public static bool KeepsUserOrder(this OutboxKind kind) => kind == OutboxKind.Karte;

    public static string ToKeyword(this OutboxKind kind) => kind switch
    {
        OutboxKind.Activities => "activities",
        OutboxKind.Leads => "leads",
        OutboxKind.Karte => "karte",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>The kind stored as <paramref name="keyword"/> (the <c>kind</c> column).</summary>
    public static OutboxKind ParseKind(string keyword) => keyword switch
    {
        "activities" => OutboxKind.Activities,
        "leads" => OutboxKind.Leads,
        "karte" => OutboxKind.Karte,
        _ => throw new ArgumentOutOfRangeException(nameof(keyword), keyword, "not an outbox kind"),
    };
}

/// <summary>A row to add. <paramref name="Payload"/> is the JSON the dispatcher sends from.</summary>
public sealed record OutboxEntry(string DeliveryId, string? UserId, string? Email, JsonObject Payload);

/// <summary>A stored row.</summary>
public sealed record OutboxRow
{
    public required long Id { get; init; }
    public required string ProjectId { get; init; }
    public required OutboxKind Kind { get; init; }
    public required string DeliveryId { get; init; }
    public string? UserId { get; init; }
    public string? Email { get; init; }
    public required JsonObject Payload { get; init; }
    public required string Status { get; init; }
    public int Attempts { get; init; }
    public DateTimeOffset NextAttemptAt { get; init; }
    public Guid? LeaseId { get; init; }
    public DateTimeOffset? LeaseUntil { get; init; }
    public DateTimeOffset? SentAt { get; init; }
    public bool PossibleDuplicate { get; init; }
    public long? LeadId { get; init; }
    public DateTimeOffset? SyncedAt { get; init; }
    public string? MarketoGuid { get; init; }
    public JsonNode? Result { get; init; }
    public string? ErrorCode { get; init; }
    public string? ErrorMessage { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    public DateTimeOffset? DeliveredAt { get; init; }
}

/// <summary>
/// What became of a claimed row. Applied only while the row still carries the claim's lease, so a dispatcher that
/// lost its claim cannot overwrite a newer one.
/// </summary>
public sealed record OutboxOutcome(long Id, string Status, int Attempts, DateTimeOffset NextAttemptAt)
{
    public long? LeadId { get; init; }
    public DateTimeOffset? SyncedAt { get; init; }
    public string? MarketoGuid { get; init; }
    public JsonNode? Result { get; init; }
    public string? ErrorCode { get; init; }
    public string? ErrorMessage { get; init; }
    public DateTimeOffset? DeliveredAt { get; init; }
}

/// <summary>A project and outbox with work due (or claimed by an activation that may be gone).</summary>
public sealed record OutboxWork(string ProjectId, OutboxKind Kind);
