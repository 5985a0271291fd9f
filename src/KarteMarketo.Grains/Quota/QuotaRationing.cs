namespace KarteMarketo.Grains.Quota;

/// <summary>
/// How one limited resource (the day's budget, the 20-second window, the in-flight slots) is shared between the
/// purposes of Marketo calls, so that no purpose starves the others under overload.
/// </summary>
/// <remarks>
/// <para>The rule, applied the same way to each of the three resources with limit <c>L</c>:</para>
/// <list type="number">
/// <item>Each purpose <c>p</c> has a guaranteed share <c>g(p) = floor(L × w(p) / 25)</c> with weights realtime 6,
/// periodic 6, activities 6, leads 6, other 1 (24 % each, 4 % for housekeeping such as the usage reconciliation).</item>
/// <item>A purpose is <em>active</em> when it asked (granted or not) within the resource's horizon: 24 hours for
/// the day, 60 seconds for the window and the in-flight slots. Only active purposes hold anything back.</item>
/// <item>A call for <c>p</c> is granted when the resource is not full and either <c>p</c> has used less than
/// <c>g(p)</c>, or, after this call, the free remainder still covers the unspent guarantees
/// <c>max(0, g(q) − used(q))</c> of every other active purpose <c>q</c> (borrowing).</item>
/// </list>
/// <para>Why it is fair: while the set of active purposes stays the same and nobody outside us spends the resource,
/// <c>free ≥ Σ unspent guarantees of active purposes</c> holds after every grant (a grant within a guarantee lowers
/// both sides by one; a borrow is only allowed when it keeps the inequality). So an active purpose always finds
/// room for the rest of its guarantee, however hard another one floods. A purpose alone, with the others idle,
/// borrows everything. Where the inequality is broken from outside (other integrations raise the day's count, or a
/// purpose wakes up after others borrowed), borrowing stops first: freed capacity goes to guarantee holders.</para>
/// </remarks>
public static class QuotaRationing
{
    /// <summary>The number of <see cref="MarketoCallPurpose"/> values (they are 0..4).</summary>
    public const int PurposeCount = 5;

    private const int TotalWeight = 25;

    private static readonly int[] Weights = [6, 6, 6, 6, 1];

    /// <summary>The share of <paramref name="limit"/> that <paramref name="purpose"/> can always count on while active.</summary>
    public static int GuaranteeOf(MarketoCallPurpose purpose, int limit) =>
        (int)((long)Math.Max(0, limit) * Weights[(int)purpose] / TotalWeight);

    /// <summary>Whether one more unit of a resource may go to <paramref name="purpose"/>.</summary>
    /// <param name="purpose">Who asks.</param>
    /// <param name="limit">The resource's limit now.</param>
    /// <param name="usedTotal">How much of it is taken, by anyone (may exceed the sum of <paramref name="usedByPurpose"/>).</param>
    /// <param name="usedByPurpose">How much each purpose has taken, indexed by purpose.</param>
    /// <param name="active">Which purposes asked within the resource's horizon, indexed by purpose.</param>
    public static bool MayTake(MarketoCallPurpose purpose, int limit, int usedTotal,
        ReadOnlySpan<int> usedByPurpose, ReadOnlySpan<bool> active)
    {
        if (usedTotal >= limit) return false;
        var asker = (int)purpose;
        if (usedByPurpose[asker] < GuaranteeOf(purpose, limit)) return true;

        long heldForOthers = 0;
        for (var q = 0; q < PurposeCount; q++)
        {
            if (q == asker || !active[q]) continue;
            heldForOthers += Math.Max(0, GuaranteeOf((MarketoCallPurpose)q, limit) - usedByPurpose[q]);
        }
        return (long)limit - usedTotal - 1 >= heldForOthers;
    }

    /// <summary>The key of a purpose in <c>byPurpose</c> (API.md).</summary>
    public static string KeyOf(MarketoCallPurpose purpose) => purpose switch
    {
        MarketoCallPurpose.Realtime => "realtime",
        MarketoCallPurpose.Periodic => "periodic",
        MarketoCallPurpose.Activities => "activities",
        MarketoCallPurpose.Leads => "leads",
        _ => "other",
    };
}
