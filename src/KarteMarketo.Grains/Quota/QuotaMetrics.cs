using System.Collections.Concurrent;
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

    /// <summary>The latest forecast of each instance whose quota grain is active, for the gauges below.</summary>
    private static readonly ConcurrentDictionary<string, (QuotaForecast Forecast, int Budget, DateTimeOffset At)> Forecasts =
        new(StringComparer.Ordinal);

    private static readonly ObservableGauge<int> CallsAtDayEnd = KarteMarketoMetrics.Meter.CreateObservableGauge(
        "kartemarketo.quota.forecast.calls_at_day_end",
        () => Forecasts.Select(f => new Measurement<int>(f.Value.Forecast.CallsAtDayEnd, Instance(f.Key))),
        unit: "{call}", description: "Calls the Marketo day will have counted at its end at the current pace (at most the budget), by instance");

    private static readonly ObservableGauge<double> SecondsToExhaustion = KarteMarketoMetrics.Meter.CreateObservableGauge(
        "kartemarketo.quota.forecast.exhausted_in",
        () => Forecasts.Where(f => f.Value.Forecast.ExhaustedAt is not null).Select(f => new Measurement<double>(
            Math.Max(0, (f.Value.Forecast.ExhaustedAt!.Value - f.Value.At).TotalSeconds), Instance(f.Key))),
        unit: "s", description: "Seconds until the day's budget runs out at the current pace (absent: not before the reset), by instance");

    private static readonly ObservableGauge<int> DayBudget = KarteMarketoMetrics.Meter.CreateObservableGauge(
        "kartemarketo.quota.budget",
        () => Forecasts.Select(f => new Measurement<int>(f.Value.Budget, Instance(f.Key))),
        unit: "{call}", description: "Calls the Marketo day may grant (the limit less the reserve), by instance");

    /// <summary>Publishes an instance's forecast (from its quota grain's snapshot).</summary>
    public static void Forecast(QuotaSnapshot snapshot) =>
        Forecasts[snapshot.Instance] = (snapshot.Forecast, snapshot.Budget, snapshot.At);

    /// <summary>The instance's grain is gone from this silo: its figures are another silo's to publish.</summary>
    public static void ForgetForecast(string instance) => Forecasts.TryRemove(instance, out _);

    private static KeyValuePair<string, object?> Instance(string instance) => new("instance", instance);

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
