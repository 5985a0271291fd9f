using System.Diagnostics.Metrics;
using KarteMarketo.Grains.Telemetry;

namespace KarteMarketo.Grains.Flows.KarteWriteBack;

/// <summary><c>kartemarketo.karte.writes</c>: calls to KARTE's write API by <c>outcome</c>
/// (<c>delivered</c>, <c>retried</c>, <c>throttled</c>, <c>failed</c>, <c>unauthorized</c>).</summary>
public static class KarteWriteMetrics
{
    private static readonly Counter<long> Writes = KarteMarketoMetrics.Meter.CreateCounter<long>(
        "kartemarketo.karte.writes", unit: "{write}", description: "Writes sent to KARTE, by outcome");

    public const string Delivered = "delivered";
    public const string Retried = "retried";
    public const string Throttled = "throttled";
    public const string Failed = "failed";
    public const string Unauthorized = "unauthorized";

    public static void Record(string outcome) => Writes.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
}
