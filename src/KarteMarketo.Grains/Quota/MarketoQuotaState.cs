namespace KarteMarketo.Grains.Quota;

/// <summary>
/// What the quota grain of one Marketo instance persists. Written before a grant would pass
/// <see cref="ReservedThrough"/>, on Marketo's 607, and on deactivation; so after a crash the day's count restarts
/// at the reservation (a few calls too many at worst, never too few).
/// </summary>
[GenerateSerializer, Alias("KarteMarketo.MarketoQuotaState")]
public sealed record MarketoQuotaState
{
    /// <summary>The Central day the figures belong to; a state of another day is spent.</summary>
    [Id(0)] public DateOnly Day { get; init; }

    /// <summary>The day's count may have reached this number before the next write: the count to restart from.</summary>
    [Id(1)] public int ReservedThrough { get; init; }

    /// <summary>Calls counted per purpose (indexed by <see cref="MarketoCallPurpose"/>) as of the write.</summary>
    [Id(2)] public int[] ByPurpose { get; init; } = new int[QuotaRationing.PurposeCount];

    /// <summary>Permits denied during the day, as of the write.</summary>
    [Id(3)] public int Denials { get; init; }

    /// <summary>After Marketo's 607: no calls until this instant (the next Central midnight).</summary>
    [Id(4)] public DateTimeOffset? StoppedUntil { get; init; }

    /// <summary>When each purpose last asked (indexed by purpose), so the day's rationing survives reactivation.</summary>
    [Id(5)] public DateTimeOffset[] LastAskedAt { get; init; } = new DateTimeOffset[QuotaRationing.PurposeCount];

    /// <summary>Calls counted per Central hour and purpose today (<see cref="QuotaSnapshot.HourlyByPurpose"/>), as of the write.</summary>
    [Id(6)] public int[] HourlyByPurpose { get; init; } = [];

    /// <summary>Today's 606/615/607 answers, as of the write.</summary>
    [Id(7)] public QuotaThrottleMark[] Throttles { get; init; } = [];
}
