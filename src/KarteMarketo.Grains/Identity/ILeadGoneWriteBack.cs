namespace KarteMarketo.Grains.Identity;

/// <summary>
/// Where the lead sync reports users whose lead is gone (deleted or merged away in Marketo), so that KARTE hears it
/// once as <c>{ "marketo": null, "marketo_hash": null }</c> (API.md, "KARTE write-back"). The KARTE write-back
/// registers its own implementation; until then <see cref="NoLeadGoneWriteBack"/> writes nothing.
/// </summary>
public interface ILeadGoneWriteBack
{
    /// <summary>Called after the users' stored info lost its lead, with only the users that had one.</summary>
    Task LeadGoneAsync(string projectId, IReadOnlyList<string> userIds, CancellationToken cancellationToken = default);
}

/// <summary>The default: KARTE write-back not wired in.</summary>
public sealed class NoLeadGoneWriteBack : ILeadGoneWriteBack
{
    public Task LeadGoneAsync(string projectId, IReadOnlyList<string> userIds, CancellationToken cancellationToken = default) =>
        Task.CompletedTask;
}
