namespace KarteMarketo.Karte;

/// <summary>The KARTE client's settings (configuration section <c>Karte:Client</c>).</summary>
public sealed class KarteClientOptions
{
    public const string SectionName = "Karte:Client";

    /// <summary>The path of the write API under the project's endpoint.</summary>
    public const string WritePath = "v2/track/event/write";

    /// <summary>A call without an answer after this long is given up and retried later by the outbox.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest KARTE answer kept as a failed write's error text.</summary>
    public int MaxErrorLength { get; set; } = 500;
}
