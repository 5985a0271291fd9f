using KarteMarketo.Marketo;
using KarteMarketo.Grains.Flows.CustomActivities;
using KarteMarketo.Grains.Flows.LeadUpserts;

namespace KarteMarketo.Grains.Outbox;

/// <summary>How the outbox dispatchers batch and retry (configuration section <c>Outbox</c>).</summary>
public sealed class OutboxOptions
{
    /// <summary>Rows per Marketo call: 300 is Marketo's limit for both endpoints.</summary>
    public int BatchSize { get; set; } = MarketoLimits.MaxBatchSize;

    /// <summary>How long added rows wait for others to fill a batch (unless a full batch is already waiting).</summary>
    public TimeSpan BatchDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a claim lasts when its dispatcher stops answering (a backstop: a dispatcher that activates
    /// again recovers its rows at once).</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Attempts of a row that keeps failing (transient or Marketo errors) before it is marked failed.</summary>
    public int MaxAttempts { get; set; } = 10;

    /// <summary>Back-off after the first failed attempt; doubled per attempt up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>An activity whose lead does not exist yet is retried this long (the lead may be created meanwhile).</summary>
    public TimeSpan LeadNotFoundRetryFor { get; set; } = TimeSpan.FromHours(1);

    public TimeSpan LeadNotFoundRetryInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Wait after the quota or the rate limits said no (when Marketo gave no better hint).</summary>
    public TimeSpan ThrottledDelay { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>How often each silo looks for projects with due rows (also once at start-up).</summary>
    public TimeSpan ScanInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Back-off of attempt <paramref name="attempt"/> (1-based).</summary>
    public TimeSpan BackoffFor(int attempt)
    {
        var factor = Math.Pow(2, Math.Clamp(attempt - 1, 0, 20));
        var delay = TimeSpan.FromTicks((long)Math.Min(InitialBackoff.Ticks * factor, MaxBackoff.Ticks));
        return delay < TimeSpan.Zero ? MaxBackoff : delay;
    }
}
