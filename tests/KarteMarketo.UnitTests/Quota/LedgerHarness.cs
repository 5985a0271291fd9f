using KarteMarketo.Contracts.Projects;
using KarteMarketo.Contracts.Quota;
using KarteMarketo.Grains.Quota;

namespace KarteMarketo.UnitTests.Quota;

/// <summary>Plays the grain's part around a <see cref="QuotaLedger"/>: persists reservations into
/// <see cref="Stored"/> when asked, exactly as the grain does.</summary>
internal sealed class LedgerHarness(QuotaLedger ledger, string projectId = "p1")
{
    public QuotaLedger Ledger { get; } = ledger;

    /// <summary>What the grain storage holds now.</summary>
    public MarketoQuotaState? Stored { get; private set; }

    public int Writes { get; private set; }

    public QuotaPermit Acquire(MarketoCallPurpose purpose, QuotaSettings limits, string? project = null)
    {
        while (true)
        {
            var decision = Ledger.Acquire(new QuotaRequest(purpose, limits, project ?? projectId));
            if (decision.Permit is { } permit) return permit;
            Persist();
        }
    }

    /// <summary>A call that ends at once with <paramref name="outcome"/>.</summary>
    public QuotaPermit Call(MarketoCallPurpose purpose, QuotaSettings limits,
        MarketoCallOutcome outcome = MarketoCallOutcome.Counted)
    {
        var permit = Acquire(purpose, limits);
        if (permit.Granted) Release(permit.LeaseId, outcome);
        return permit;
    }

    public void Release(Guid leaseId, MarketoCallOutcome outcome)
    {
        if (Ledger.Release(leaseId, outcome)) Persist();
    }

    public void Persist(bool exact = false)
    {
        var state = Ledger.CaptureState(exact);
        // Through a copy, as storage would: nothing the ledger keeps may alias the stored arrays.
        Stored = state with { ByPurpose = [.. state.ByPurpose], LastAskedAt = [.. state.LastAskedAt] };
        Writes++;
        Ledger.MarkPersisted(state);
    }
}
