using KarteMarketo.Contracts.Projects;
using KarteMarketo.Marketo;

namespace KarteMarketo.Server.Settings;

/// <summary>
/// Checks saved Marketo credentials once against the identity endpoint. Identity calls are not counted by Marketo, so
/// no quota permit is taken. The outcome is reported, never enforced: settings are stored either way (Marketo may be
/// down, or the credentials may be entered before the API user exists).
/// </summary>
public sealed class MarketoConnectionCheck(IServiceProvider services, TimeProvider time, ILogger<MarketoConnectionCheck> logger)
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary><c>ok</c>, or <c>failed: &lt;reason&gt;</c>.</summary>
    public async Task<string> CheckAsync(string projectId, MarketoSettings settings, CancellationToken cancellationToken)
    {
        var client = services.GetService<IMarketoClient>();
        if (client is null) return "failed: no Marketo client is configured in this host";

        var connection = new MarketoConnection(settings.ClientId, settings.ClientSecret, new Uri(settings.Endpoint), new Uri(settings.Identity));
        using var timeout = new CancellationTokenSource(Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        string outcome;
        try
        {
            var result = await client.CheckCredentialsAsync(connection, linked.Token);
            outcome = result is { IsSuccess: true, Value: true } ? "ok" : "failed: " + Describe(result);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            outcome = $"failed: the identity endpoint did not answer within {Timeout.TotalSeconds:0} s";
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or InvalidOperationException)
        {
            outcome = "failed: " + ex.GetType().Name;
        }

        // A reason may quote what the other side said; it must never quote the secret.
        outcome = Redact(outcome, settings.ClientSecret);
        logger.LogInformation("Project {ProjectId}: Marketo credentials checked: {Outcome}", projectId, outcome);
        return outcome;
    }

    private static string Describe(MarketoResult<bool> result)
    {
        var what = result.Kind switch
        {
            MarketoResultKind.Success => "the identity endpoint gave no token",
            MarketoResultKind.AuthenticationFailed => "the identity endpoint refused the client id or secret",
            MarketoResultKind.Transient => "Marketo could not be reached",
            MarketoResultKind.RateLimited or MarketoResultKind.ConcurrencyLimited => "Marketo is limiting calls right now",
            MarketoResultKind.DailyQuotaExhausted => "Marketo's daily quota is used up",
            _ => "Marketo refused the request",
        };
        var first = result.Errors.FirstOrDefault();
        if (first is null) return what;
        var message = new string(first.Message.Where(c => !char.IsControl(c)).Take(200).ToArray());
        return $"{what} ({first.Code}: {message})";
    }

    private static string Redact(string text, string secret) =>
        secret.Length >= 4 ? text.Replace(secret, "****", StringComparison.Ordinal) : text;
}
