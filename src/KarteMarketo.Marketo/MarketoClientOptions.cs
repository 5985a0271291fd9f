namespace KarteMarketo.Marketo;

/// <summary>Time-out and token settings of <see cref="MarketoClient"/>; bound from <c>Marketo:Client</c>.</summary>
public sealed class MarketoClientOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Marketo:Client";

    /// <summary>A token is renewed this long before Marketo said it expires.</summary>
    public TimeSpan TokenRenewBefore { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Per-attempt time-out of Get Leads by Filter Type (Marketo's own: 60 s, facts §2).</summary>
    public TimeSpan LookupTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Per-attempt time-out of Sync Leads (Marketo: 90 s).</summary>
    public TimeSpan SyncTimeout { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>Per-attempt time-out of Associate Lead (Marketo: 60 s).</summary>
    public TimeSpan AssociateTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Per-attempt time-out of Add Custom Activities (Marketo: 90 s).</summary>
    public TimeSpan ActivitiesTimeout { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>Per-attempt time-out of everything else, identity included (Marketo: 30 s for most endpoints).</summary>
    public TimeSpan DefaultTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
