using System.Diagnostics.Metrics;

namespace KarteMarketo.Grains.Telemetry;

/// <summary>
/// The service's own meter. Every area creates its instruments on <see cref="Meter"/> (or on a meter with
/// <see cref="MeterName"/>); <c>/metrics</c> exports it next to Orleans' meter.
/// Instrument names use the <c>kartemarketo.</c> prefix, e.g. <c>kartemarketo.marketo.calls</c>.
/// </summary>
public static class KarteMarketoMetrics
{
    public const string MeterName = "KarteMarketo";

    /// <summary>Orleans' own meter (grain calls, activations, membership...).</summary>
    public const string OrleansMeterName = "Microsoft.Orleans";

    /// <summary>The shared meter instance: instruments created on it live as long as the process.</summary>
    public static Meter Meter { get; } = new(MeterName);
}
