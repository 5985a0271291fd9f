using KarteMarketo.Contracts.Projects;
using KarteMarketo.Karte;

namespace KarteMarketo.Server.Settings;

/// <summary>
/// Checks a saved KARTE app token once, without writing anything: the write endpoint is sent a body with neither
/// <c>keys</c> nor <c>event</c> (<see cref="IKarteClient.CheckTokenAsync"/>). KARTE authenticates before it reads the
/// body, so <c>401</c>/<c>403</c> means the token is refused and <c>400</c> means it was accepted (the empty body is what
/// was refused; nothing is recorded). Reported like <c>marketoConnection</c>, never enforced.
/// </summary>
public sealed class KarteConnectionCheck(IServiceProvider services, ILogger<KarteConnectionCheck> logger)
{
    /// <summary><c>ok</c>, <c>failed: …</c>, or null when the project does not write to KARTE.</summary>
    public async Task<string?> CheckAsync(string projectId, KarteSettings settings, CancellationToken cancellationToken)
    {
        if (!settings.IsActive) return null;
        var client = services.GetService<IKarteClient>();
        if (client is null) return "failed: no KARTE client is configured in this host";
        string outcome;
        try
        {
            var check = await client.CheckTokenAsync(new KarteConnection(new Uri(settings.Endpoint), settings.AppToken!), cancellationToken);
            outcome = check.Outcome == KarteTokenCheckOutcome.Accepted ? "ok" : "failed: " + check.Detail;
        }
        catch (Exception ex) when (ex is InvalidOperationException or UriFormatException)
        {
            outcome = "failed: " + ex.GetType().Name;
        }
        // KARTE's answer is quoted; it must never quote the token.
        if (settings.AppToken!.Length >= 4) outcome = outcome.Replace(settings.AppToken, "****", StringComparison.Ordinal);
        logger.LogInformation("Project {ProjectId}: KARTE app token checked: {Outcome}", projectId, outcome);
        return outcome;
    }
}
