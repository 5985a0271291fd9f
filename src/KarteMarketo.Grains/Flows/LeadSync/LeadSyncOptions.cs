namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>Operational settings of the lead sync (configuration section <c>LeadSync</c>).</summary>
public sealed class LeadSyncOptions
{
    /// <summary>A realtime lookup still unanswered after this long is taken as lost (its silo died, or handing its
    /// result over failed) and is queued again. Lookups normally answer within seconds, even when the quota makes
    /// them wait (such waits are capped at a minute and then deferred).</summary>
    public TimeSpan PendingLookupRecoveryAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often each silo looks for lost lookups (also once at start-up).</summary>
    public TimeSpan PendingLookupScanInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Lost lookups woken per scan and silo (the rest wait for the next scan).</summary>
    public int PendingLookupScanLimit { get; set; } = 2000;
}
