namespace KarteMarketo.Grains.Flows.KarteWriteBack;

/// <summary>How the KARTE dispatcher sends (configuration section <c>Karte:Writes</c>). Batching, leases, attempts and
/// back-off are the shared outbox's (<c>Outbox</c> section).</summary>
public sealed class KarteWriteOptions
{
    public const string SectionName = "Karte:Writes";

    /// <summary>Users written at the same time (each user's writes go one after another, in order).</summary>
    public int MaxConcurrentCalls { get; set; } = 8;

    /// <summary>Wait after a 429 without <c>Retry-After</c>. A 429 is KARTE's limit, not the row's fault: no attempt is counted.</summary>
    public TimeSpan ThrottledDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>While paused (app token refused, or writing turned off), rows are looked at again this often; a settings
    /// change ends the pause at once.</summary>
    public TimeSpan PausedRecheck { get; set; } = TimeSpan.FromMinutes(5);
}
