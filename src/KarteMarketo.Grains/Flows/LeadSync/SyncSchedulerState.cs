namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>What a <see cref="SyncSchedulerGrain"/> persists: its reminder and the last run's figures. The emails
/// themselves wait in the <see cref="IPeriodicSyncQueue"/> (a table), so this state stays small. Ids 0 and 1 (the emails
/// kept here before the queue existed) are retired: that layout was never released.</summary>
[GenerateSerializer, Alias("KarteMarketo.SyncSchedulerState")]
public sealed class SyncSchedulerState
{
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
