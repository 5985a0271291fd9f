namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>What a <see cref="SyncSchedulerGrain"/> persists: the emails waiting for a tick and the current run's rest,
/// so that a crash loses none of them.</summary>
[GenerateSerializer, Alias("KarteMarketo.SyncSchedulerState")]
public sealed class SyncSchedulerState
{
    /// <summary>Emails seen since the last tick (normalised).</summary>
    [Id(0)] public HashSet<string> Pending { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The current run's emails not looked up yet, in order.</summary>
    [Id(1)] public List<string> Running { get; set; } = [];

    /// <summary>The interval the reminder was registered with (null: no reminder).</summary>
    [Id(2)] public int? ReminderIntervalMinutes { get; set; }

    [Id(3)] public DateTimeOffset? LastTickAt { get; set; }

    [Id(4)] public DateTimeOffset? LastRunCompletedAt { get; set; }

    [Id(5)] public string? LastError { get; set; }

    /// <summary>Lookup calls made by periodic runs.</summary>
    [Id(6)] public long Calls { get; set; }

    /// <summary>Emails taken off runs without a lookup because a realtime lookup had answered for them within the interval.</summary>
    [Id(7)] public long Skipped { get; set; }
}
