using System.Diagnostics.Metrics;
using KarteMarketo.Grains.Telemetry;

namespace KarteMarketo.Grains.Quota;

/// <summary>Marketo calls and quota denials on the service's meter.</summary>
internal static class QuotaMetrics
{
    private static readonly Counter<long> Calls = KarteMarketoMetrics.Meter.CreateCounter<long>(
        "kartemarketo.marketo.calls", unit: "{call}", description: "Marketo calls made under a quota permit, by purpose and outcome");

    private static readonly Counter<long> Denials = KarteMarketoMetrics.Meter.CreateCounter<long>(
        "kartemarketo.quota.denials", unit: "{call}", description: "Quota permits denied, by purpose and reason");

    public static void Called(MarketoCallPurpose purpose, MarketoCallOutcome outcome) =>
        Calls.Add(1, new KeyValuePair<string, object?>("purpose", QuotaRationing.KeyOf(purpose)),
            new KeyValuePair<string, object?>("outcome", OutcomeName(outcome)));

    public static void Denied(MarketoCallPurpose purpose, QuotaDenial reason) =>
        Denials.Add(1, new KeyValuePair<string, object?>("purpose", QuotaRationing.KeyOf(purpose)),
            new KeyValuePair<string, object?>("reason", ReasonName(reason)));

    private static string OutcomeName(MarketoCallOutcome outcome) => outcome switch
    {
        MarketoCallOutcome.Counted => "counted",
        MarketoCallOutcome.NotCounted => "not_counted",
        MarketoCallOutcome.RateLimited => "rate_limited",
        MarketoCallOutcome.ConcurrencyLimited => "concurrency_limited",
        MarketoCallOutcome.DailyQuotaExhausted => "daily_quota_exhausted",
        _ => "unknown",
    };

    private static string ReasonName(QuotaDenial reason) => reason switch
    {
        QuotaDenial.DailyBudget => "daily_budget",
        QuotaDenial.RateWindow => "rate_window",
        QuotaDenial.Concurrency => "concurrency",
        QuotaDenial.QuotaExhausted => "quota_exhausted",
        QuotaDenial.BackingOff => "backing_off",
        _ => "none",
    };
}
