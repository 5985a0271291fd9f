using KarteMarketo.Contracts.Projects;
using KarteMarketo.Contracts.Quota;
using KarteMarketo.Grains.Quota;

namespace KarteMarketo.UnitTests.Quota;

public sealed class QuotaRationingTests
{
    private static readonly bool[] AllActive = [true, true, true, true, true];

    [Fact]
    public void Guarantees_are_24_percent_each_and_4_percent_for_other_and_never_exceed_the_limit()
    {
        Assert.Equal(10_800, QuotaRationing.GuaranteeOf(MarketoCallPurpose.Realtime, 45_000));
        Assert.Equal(10_800, QuotaRationing.GuaranteeOf(MarketoCallPurpose.Leads, 45_000));
        Assert.Equal(1_800, QuotaRationing.GuaranteeOf(MarketoCallPurpose.Other, 45_000));
        foreach (var limit in new[] { 1, 7, 8, 90, 100, 45_000, int.MaxValue })
        {
            var sum = Enum.GetValues<MarketoCallPurpose>().Sum(p => (long)QuotaRationing.GuaranteeOf(p, limit));
            Assert.True(sum <= limit, $"guarantees {sum} exceed {limit}");
        }
    }

    [Fact]
    public void Within_its_guarantee_a_purpose_is_granted_while_anything_is_left()
    {
        int[] used = [0, 0, 98, 0, 0];
        Assert.True(QuotaRationing.MayTake(MarketoCallPurpose.Realtime, 100, 98, used, AllActive));
        Assert.False(QuotaRationing.MayTake(MarketoCallPurpose.Realtime, 100, 100, used, AllActive));
    }

    [Fact]
    public void Borrowing_stops_where_it_would_eat_into_an_active_purposes_unspent_guarantee()
    {
        // Realtime has spent its 24; activities is active and has 24 unspent; the others are idle.
        bool[] active = [true, false, true, false, false];
        int[] used = [24, 0, 0, 0, 0];
        var total = 24;
        while (QuotaRationing.MayTake(MarketoCallPurpose.Realtime, 100, total, used, active))
        {
            used[0]++;
            total++;
        }
        Assert.Equal(76, used[0]);
        Assert.True(QuotaRationing.MayTake(MarketoCallPurpose.Activities, 100, total, used, active));
    }

    [Fact]
    public void A_purpose_alone_may_take_everything()
    {
        bool[] active = [true, false, false, false, false];
        int[] used = [99, 0, 0, 0, 0];
        Assert.True(QuotaRationing.MayTake(MarketoCallPurpose.Realtime, 100, 99, used, active));
        Assert.False(QuotaRationing.MayTake(MarketoCallPurpose.Realtime, 100, 100, [100, 0, 0, 0, 0], active));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Under_random_contention_every_active_purpose_reaches_its_guarantee(int seed)
    {
        // Purposes ask in random order, some far more often than others, until nobody can take more.
        var random = new Random(seed);
        const int limit = 1003;
        var used = new int[QuotaRationing.PurposeCount];
        var total = 0;
        int[] appetite = [50, 1, 5, 1, 1];
        var weights = appetite.Sum();
        var refusedInARow = 0;
        while (refusedInARow < 10_000)
        {
            var pick = random.Next(weights);
            var purpose = 0;
            while (pick >= appetite[purpose]) pick -= appetite[purpose++];
            if (QuotaRationing.MayTake((MarketoCallPurpose)purpose, limit, total, used, AllActive))
            {
                used[purpose]++;
                total++;
                refusedInARow = 0;
            }
            else
            {
                refusedInARow++;
            }
        }

        Assert.Equal(limit, total);
        for (var p = 0; p < used.Length; p++)
            Assert.True(used[p] >= QuotaRationing.GuaranteeOf((MarketoCallPurpose)p, limit), $"purpose {p} got {used[p]}");
    }
}
