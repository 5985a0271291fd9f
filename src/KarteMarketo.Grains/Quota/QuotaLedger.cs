using KarteMarketo.Marketo;

namespace KarteMarketo.Grains.Quota;

/// <summary>
/// The budget rules of one Marketo instance, without Orleans, so they can be tested on a fake clock:
/// the day's count in Marketo's Central day, reservations that make a crash over-count rather than under-count,
/// the sliding 20-second window, leased in-flight slots that expire, back-off after 606/615, the stop after 607,
/// the reserve for other integrations, the strictest limits of the projects that asked, and rationing by purpose
/// (<see cref="QuotaRationing"/>). Not thread-safe: its owner (the grain) calls it one turn at a time.
/// </summary>
public sealed class QuotaLedger
{
    /// <summary>Marketo's rate window.</summary>
    public static readonly TimeSpan Window = MarketoLimits.RateWindow;

    /// <summary>
    /// How long a granted permit holds its in-flight slot when its holder never releases it (the holder's silo
    /// died). Marketo's own longest request time-out is 90 s; the gateway cancels its call at
    /// <see cref="CallDeadline"/>, so a live holder always releases before its lease expires, and a dead one
    /// costs one slot for three minutes at most.
    /// </summary>
    public static readonly TimeSpan LeaseTimeout = TimeSpan.FromMinutes(3);

    /// <summary>The longest a permitted call may run: the lease less a margin for the release to arrive.</summary>
    public static readonly TimeSpan CallDeadline = LeaseTimeout - TimeSpan.FromSeconds(30);

    /// <summary>A purpose that asked within this span holds its unspent share of the day.</summary>
    public static readonly TimeSpan DayActivityHorizon = TimeSpan.FromHours(24);

    /// <summary>A purpose that asked within this span holds its unspent share of the window and of the slots.</summary>
    public static readonly TimeSpan ShortActivityHorizon = TimeSpan.FromSeconds(60);

    /// <summary>A project's limits count towards the strictest while it asked within this span.</summary>
    public static readonly TimeSpan ProjectLimitsHorizon = TimeSpan.FromHours(24);

    /// <summary>Calls reserved per write: a crash over-counts by at most this many; one write per this many calls.</summary>
    public const int ReservationBlock = 50;

    private const int Purposes = QuotaRationing.PurposeCount;
    private const int HoursPerDay = 24;

    /// <summary>Today's 606/615/607 answers kept for the console's chart.</summary>
    public const int MaxThrottleMarks = 200;

    /// <summary>The pace of the forecast: the calls of this last span (or of the day so far, when younger).</summary>
    public static readonly TimeSpan ForecastPaceWindow = TimeSpan.FromHours(1);
    /// <summary>How long after the Central midnight a 607 is doubted (<see cref="StopAfter607"/>): the hour between a
    /// CDT and a fixed-CST midnight, and a margin for clocks.</summary>
    public static readonly TimeSpan MidnightDoubt = TimeSpan.FromMinutes(75);

    /// <summary>While a 607 is doubted: how long the instance stops before Marketo's count is read again.</summary>
    public static readonly TimeSpan DoubtRecheck = TimeSpan.FromMinutes(5);

    private static readonly TimeSpan ConcurrencyRetryAfter = TimeSpan.FromMilliseconds(500);

    private readonly TimeProvider _time;

    private DateOnly _day;
    private int _used;
    private readonly int[] _byPurpose = new int[Purposes];
    private int _denials;
    private int _persistedReservedThrough;
    private DateTimeOffset? _stoppedUntil;
    private DateTimeOffset? _persistedStoppedUntil;
    private DateTimeOffset? _doubtCheckDueAt;
    private bool _doubtCheckPassesStop;
    private readonly DateTimeOffset[] _lastAsked = new DateTimeOffset[Purposes];
    private readonly int[] _hourly = new int[HoursPerDay * Purposes];
    private readonly List<QuotaThrottleMark> _throttles = [];

    private readonly Dictionary<Guid, Lease> _leases = [];
    private readonly int[] _leasesByPurpose = new int[Purposes];
    private readonly Queue<WindowEntry> _released = new();
    private readonly int[] _releasedByPurpose = new int[Purposes];

    private readonly Backoff _rateBackoff = new();
    private readonly Backoff _concurrencyBackoff = new();

    private readonly Dictionary<string, ProjectLimits> _limits = new(StringComparer.Ordinal);
    private QuotaSettings _effective = QuotaSettings.Default;
    private DateTimeOffset _limitsPrunedAt;

    /// <summary>Starts a ledger, from the persisted state where there is one.</summary>
    public QuotaLedger(string instance, TimeProvider time, MarketoQuotaState? persisted)
    {
        Instance = instance;
        _time = time;
        var now = time.GetUtcNow();
        _day = MarketoDay.Of(now);
        Array.Fill(_lastAsked, DateTimeOffset.MinValue);
        if (persisted is null) return;

        if (persisted.Day == _day)
        {
            // The day's count restarts at the reservation: calls granted after the last write are inside it.
            _used = persisted.ReservedThrough;
            _persistedReservedThrough = persisted.ReservedThrough;
            persisted.ByPurpose.AsSpan(0, Math.Min(Purposes, persisted.ByPurpose.Length)).CopyTo(_byPurpose);
            _denials = persisted.Denials;
            persisted.HourlyByPurpose.AsSpan(0, Math.Min(_hourly.Length, persisted.HourlyByPurpose.Length)).CopyTo(_hourly);
            _throttles.AddRange(persisted.Throttles.TakeLast(MaxThrottleMarks));
        }
        _stoppedUntil = _persistedStoppedUntil = persisted.StoppedUntil;
        persisted.LastAskedAt.AsSpan(0, Math.Min(Purposes, persisted.LastAskedAt.Length)).CopyTo(_lastAsked);
    }

    /// <summary>The Marketo instance (munchkin id or host:port).</summary>
    public string Instance { get; }

    /// <summary>The strictest limits of the projects that asked within <see cref="ProjectLimitsHorizon"/>
    /// (the defaults until one asks).</summary>
    public QuotaSettings EffectiveLimits => _effective;

    /// <summary>The project of the latest request: its credentials are used for the usage reconciliation.</summary>
    public string? LastProjectId { get; private set; }

    /// <summary>Whether anyone asked since <see cref="MarkReconciled"/>: an idle instance needs no reconciliation.</summary>
    public bool AskedSinceReconcile { get; private set; }

    /// <summary>Leases held now.</summary>
    public int InFlight => _leases.Count;

    /// <summary>The calls a day may grant: <c>floor(dailyLimit × (100 − reservePercent) / 100)</c>.</summary>
    public static int BudgetOf(QuotaSettings limits) =>
        (int)((long)Math.Max(0, limits.DailyLimit) * (100 - Math.Clamp(limits.ReservePercent, 0, 100)) / 100);

    /// <summary>
    /// Decides on one call. When the call is allowed but the day's count would pass the persisted reservation,
    /// nothing is granted and <see cref="QuotaDecision.NeedsReservation"/> is set: the owner persists
    /// <see cref="CaptureState"/>, reports it with <see cref="MarkPersisted"/> and asks again.
    /// </summary>
    public QuotaDecision Acquire(QuotaRequest request)
    {
        var now = _time.GetUtcNow();
        RollDay(now);
        ObserveLimits(request, now);
        ExpireLeases(now);
        PruneWindow(now);
        var purpose = request.Purpose;
        var p = (int)purpose;
        _lastAsked[p] = now;
        AskedSinceReconcile = true;

        var doubtCheck = _doubtCheckPassesStop && purpose == MarketoCallPurpose.Other;
        if (_stoppedUntil is { } stop && now < stop && !doubtCheck) return Deny(QuotaDenial.QuotaExhausted, stop - now);

        var pausedUntil = _rateBackoff.PausedUntil > _concurrencyBackoff.PausedUntil
            ? _rateBackoff.PausedUntil : _concurrencyBackoff.PausedUntil;
        if (now < pausedUntil) return Deny(QuotaDenial.BackingOff, pausedUntil - now);

        Span<bool> dayActive = stackalloc bool[Purposes];
        Span<bool> shortActive = stackalloc bool[Purposes];
        for (var q = 0; q < Purposes; q++)
        {
            dayActive[q] = now - _lastAsked[q] < DayActivityHorizon;
            shortActive[q] = now - _lastAsked[q] < ShortActivityHorizon;
        }

        if (!QuotaRationing.MayTake(purpose, BudgetOf(_effective), _used, _byPurpose, dayActive))
            return Deny(QuotaDenial.DailyBudget, MarketoDay.EndOf(_day) - now);

        Span<int> inWindow = stackalloc int[Purposes];
        for (var q = 0; q < Purposes; q++) inWindow[q] = _leasesByPurpose[q] + _releasedByPurpose[q];
        var windowLimit = _rateBackoff.Reduce(_effective.CallsPer20Seconds, now);
        if (!QuotaRationing.MayTake(purpose, windowLimit, _leases.Count + _released.Count, inWindow, shortActive))
            return Deny(QuotaDenial.RateWindow, _released.Count > 0 ? _released.Peek().Ends - now : Window);

        var slots = _concurrencyBackoff.Reduce(_effective.MaxConcurrentCalls, now);
        if (!QuotaRationing.MayTake(purpose, slots, _leases.Count, _leasesByPurpose, shortActive))
            return Deny(QuotaDenial.Concurrency, ConcurrencyRetryAfter);

        if (_used + 1 > _persistedReservedThrough) return QuotaDecision.Reserve;

        if (doubtCheck) _doubtCheckPassesStop = false;
        var leaseId = Guid.NewGuid();
        var hour = HourOf(now);
        _leases[leaseId] = new Lease(purpose, now, now + LeaseTimeout, _day, hour);
        _leasesByPurpose[p]++;
        _used++;
        _byPurpose[p]++;
        _hourly[hour * Purposes + p]++;
        return new QuotaDecision(QuotaPermit.Grant(leaseId), false);
    }

    /// <summary>Returns a lease with the call's outcome. True when the state must be persisted now (a 607 stop).</summary>
    public bool Release(Guid leaseId, MarketoCallOutcome outcome)
    {
        var now = _time.GetUtcNow();
        RollDay(now);
        DateTimeOffset? grantedAt = null;
        var callDay = _day;
        if (_leases.Remove(leaseId, out var lease))
        {
            grantedAt = lease.GrantedAt;
            callDay = lease.Day;
            var p = (int)lease.Purpose;
            _leasesByPurpose[p]--;
            // The call reached Marketo at some instant between grant and now, so Marketo's window holds it until
            // at most now + 20 s: keeping it that long makes our window never smaller than Marketo's.
            _released.Enqueue(new WindowEntry(now + Window, lease.Purpose));
            _releasedByPurpose[p]++;
            if (outcome == MarketoCallOutcome.NotCounted && lease.Day == _day)
            {
                _used = Math.Max(0, _used - 1);
                _byPurpose[p] = Math.Max(0, _byPurpose[p] - 1);
                var slot = lease.Hour * Purposes + p;
                _hourly[slot] = Math.Max(0, _hourly[slot] - 1);
            }
        }

        if (outcome is MarketoCallOutcome.RateLimited or MarketoCallOutcome.ConcurrencyLimited or MarketoCallOutcome.DailyQuotaExhausted)
            MarkThrottle(now, outcome);

        switch (outcome)
        {
            case MarketoCallOutcome.RateLimited:
                _rateBackoff.Hit(now, grantedAt);
                return false;
            case MarketoCallOutcome.ConcurrencyLimited:
                _concurrencyBackoff.Hit(now, grantedAt);
                return false;
            case MarketoCallOutcome.DailyQuotaExhausted:
                // The quota of the day the call was made in is spent; a 607 for yesterday's call stops nothing today.
                return callDay >= _day && StopAfter607(now);
            default:
                return false;
        }
    }

    /// <summary>
    /// A 607 answered in Marketo's first minutes may still be its yesterday: "12:00 AM CST" may be fixed UTC−6 (an
    /// hour after a CDT midnight), and clocks drift. Such a 607 stops the instance only until
    /// <see cref="DoubtRecheck"/> and asks for Marketo's own count (<see cref="UsageCheckDue"/>), which decides; any
    /// other 607 stops it until the Central midnight that follows the answer.
    /// </summary>
    private bool StopAfter607(DateTimeOffset now)
    {
        DateTimeOffset until;
        if (InMidnightDoubt(now))
        {
            until = now + DoubtRecheck;
            // At once, unless a check is already planned (this 607 may be that check's own answer).
            if (_doubtCheckDueAt is not { } planned || planned <= now) _doubtCheckDueAt = now;
        }
        else
        {
            until = MarketoDay.NextResetAfter(now);
            _doubtCheckDueAt = null;
        }
        if (_stoppedUntil is { } stop && stop >= until) return false;
        _stoppedUntil = until;
        return _stoppedUntil != _persistedStoppedUntil;
    }

    private static bool InMidnightDoubt(DateTimeOffset now) =>
        now - MarketoDay.StartOf(MarketoDay.Of(now)) < MidnightDoubt;

    /// <summary>True when a doubtful 607 (<see cref="MidnightDoubt"/>) waits for a reading of Marketo's count.</summary>
    public bool UsageCheckDue => _doubtCheckDueAt is { } due && _time.GetUtcNow() >= due;

    /// <summary>The usage reading for a doubtful 607 is on its way: its one call passes the stop, and the next
    /// check (if this one settles nothing) comes <see cref="DoubtRecheck"/> later.</summary>
    public void ClaimUsageCheck()
    {
        _doubtCheckDueAt = _time.GetUtcNow() + DoubtRecheck;
        _doubtCheckPassesStop = true;
    }

    /// <summary>
    /// Settles a doubtful 607 with Marketo's count: a count for today below the daily limit means the 607 was
    /// yesterday's, and the stop ends; at or above it, the instance is closed until the Central midnight; a count
    /// still dated yesterday keeps the stop until the next check, while the doubt lasts. True when the stop changed
    /// and must be persisted.
    /// </summary>
    public bool SettleMidnightDoubt(DailyUsage usage)
    {
        if (_doubtCheckDueAt is not { } nextCheck) return false;
        var now = _time.GetUtcNow();
        RollDay(now);
        var before = _stoppedUntil;
        if (usage.Date < _day)
        {
            if (InMidnightDoubt(now))
            {
                if (_stoppedUntil is not { } stop || stop < nextCheck) _stoppedUntil = nextCheck;
            }
            else
            {
                // Marketo's day has still not turned: the next call tells (a 607 then closes the day).
                _doubtCheckDueAt = null;
            }
        }
        else
        {
            _doubtCheckDueAt = null;
            _stoppedUntil = usage.Total >= _effective.DailyLimit ? MarketoDay.EndOf(_day) : null;
        }
        return _stoppedUntil != before && _stoppedUntil != _persistedStoppedUntil;
    }

    /// <summary>Marketo's own count of the day (all integrations): where it is higher than ours, ours is raised.
    /// True when it changed the count.</summary>
    public bool ApplyMarketoUsage(DailyUsage usage)
    {
        RollDay(_time.GetUtcNow());
        if (usage.Date != _day || usage.Total <= _used) return false;
        _used = usage.Total;
        return true;
    }

    /// <summary>Called after a reconciliation: the next one waits until someone asks again.</summary>
    public void MarkReconciled() => AskedSinceReconcile = false;

    /// <summary>The state to persist. Unless <paramref name="exact"/> (graceful deactivation: nothing more will be
    /// granted here), it reserves a block of calls ahead, within the day's budget.</summary>
    public MarketoQuotaState CaptureState(bool exact = false)
    {
        RollDay(_time.GetUtcNow());
        var reserved = exact
            ? _used
            : Math.Max(_persistedReservedThrough, Math.Max(_used + 1, Math.Min(_used + ReservationBlock, BudgetOf(_effective))));
        return new MarketoQuotaState
        {
            Day = _day,
            ReservedThrough = reserved,
            ByPurpose = (int[])_byPurpose.Clone(),
            Denials = _denials,
            StoppedUntil = _stoppedUntil,
            LastAskedAt = (DateTimeOffset[])_lastAsked.Clone(),
            HourlyByPurpose = (int[])_hourly.Clone(),
            Throttles = [.. _throttles],
        };
    }

    /// <summary>Reports that <paramref name="state"/> (from <see cref="CaptureState"/>) is stored.</summary>
    public void MarkPersisted(MarketoQuotaState state)
    {
        if (state.Day == _day) _persistedReservedThrough = state.ReservedThrough;
        _persistedStoppedUntil = state.StoppedUntil;
    }

    /// <summary>The day's figures (API.md <c>GET …/quota</c>), under the strictest of the known limits and
    /// <paramref name="asked"/> (the limits of the project asking).</summary>
    public QuotaSnapshot Snapshot(QuotaSettings? asked)
    {
        var now = _time.GetUtcNow();
        RollDay(now);
        var limits = asked is null ? _effective : _limits.Count == 0 ? asked : _effective.Strictest(asked);
        var stopped = _stoppedUntil is { } stop && now < stop;
        var remaining = stopped ? 0 : Math.Max(0, BudgetOf(limits) - _used);
        var byPurpose = new Dictionary<string, int>(Purposes, StringComparer.Ordinal);
        for (var q = 0; q < Purposes; q++) byPurpose[QuotaRationing.KeyOf((MarketoCallPurpose)q)] = _byPurpose[q];
        var budget = BudgetOf(limits);
        return new QuotaSnapshot(Instance, _day, _used, limits.DailyLimit, remaining, MarketoDay.EndOf(_day), byPurpose, _denials,
            [.. _hourly], [.. _throttles], Forecast(now, budget, stopped), budget, limits.ReservePercent, now);
    }

    /// <summary>
    /// The day at the current pace: the calls counted in the last <see cref="ForecastPaceWindow"/> (from the hourly
    /// counts: this hour's, plus the share of the previous hour that the window still covers), or in the day so far
    /// when it is younger, extended to the Central midnight. The budget runs out where the extension meets it.
    /// </summary>
    private QuotaForecast Forecast(DateTimeOffset now, int budget, bool stopped)
    {
        var end = MarketoDay.EndOf(_day);
        if (stopped || _used >= budget) return new QuotaForecast(now, Math.Min(_used, budget));
        var start = MarketoDay.StartOf(_day);
        var window = now - start < ForecastPaceWindow ? now - start : ForecastPaceWindow;
        if (window <= TimeSpan.Zero) return new QuotaForecast(null, _used);

        var hour = HourOf(now);
        var local = TimeZoneInfo.ConvertTime(now, MarketoDay.Zone);
        var intoHour = TimeSpan.FromMinutes(local.Minute) + TimeSpan.FromSeconds(local.Second);
        double recent = 0;
        for (var q = 0; q < Purposes; q++)
        {
            recent += _hourly[hour * Purposes + q];
            if (hour > 0 && window > intoHour)
                recent += _hourly[(hour - 1) * Purposes + q] * Math.Min(1.0, (window - intoHour) / TimeSpan.FromHours(1));
        }
        var perSecond = recent / window.TotalSeconds;
        if (perSecond <= 0) return new QuotaForecast(null, _used);
        var left = (end - now).TotalSeconds;
        var atEnd = _used + perSecond * left;
        if (atEnd < budget) return new QuotaForecast(null, (int)Math.Floor(atEnd));
        return new QuotaForecast(now + TimeSpan.FromSeconds((budget - _used) / perSecond), budget);
    }

    private void MarkThrottle(DateTimeOffset now, MarketoCallOutcome outcome)
    {
        var code = outcome switch
        {
            MarketoCallOutcome.RateLimited => "606",
            MarketoCallOutcome.ConcurrencyLimited => "615",
            _ => "607",
        };
        if (_throttles.Count >= MaxThrottleMarks) _throttles.RemoveAt(0);
        _throttles.Add(new QuotaThrottleMark(now, code));
    }

    /// <summary>The Central hour (0–23) of <paramref name="at"/>.</summary>
    private static int HourOf(DateTimeOffset at) => Math.Clamp(TimeZoneInfo.ConvertTime(at, MarketoDay.Zone).Hour, 0, HoursPerDay - 1);

    private QuotaDecision Deny(QuotaDenial why, TimeSpan retryAfter)
    {
        _denials++;
        return new QuotaDecision(QuotaPermit.Deny(why, retryAfter > TimeSpan.Zero ? retryAfter : TimeSpan.Zero), false);
    }

    private void RollDay(DateTimeOffset now)
    {
        var day = MarketoDay.Of(now);
        if (day <= _day) return;
        _day = day;
        _used = 0;
        Array.Clear(_byPurpose);
        Array.Clear(_hourly);
        _throttles.Clear();
        _denials = 0;
        // What is persisted belongs to the day before: the first grant of the new day writes a fresh reservation.
        _persistedReservedThrough = 0;
    }

    private void ObserveLimits(QuotaRequest request, DateTimeOffset now)
    {
        LastProjectId = request.ProjectId;
        var changed = false;
        if (_limits.TryGetValue(request.ProjectId, out var known))
        {
            known.SeenAt = now;
            if (known.Settings != request.Limits)
            {
                known.Settings = request.Limits;
                changed = true;
            }
        }
        else
        {
            _limits[request.ProjectId] = new ProjectLimits(request.Limits, now);
            changed = true;
        }

        if (now - _limitsPrunedAt >= TimeSpan.FromMinutes(1))
        {
            _limitsPrunedAt = now;
            foreach (var (projectId, entry) in _limits)
            {
                if (now - entry.SeenAt < ProjectLimitsHorizon) continue;
                _limits.Remove(projectId);
                changed = true;
            }
        }

        if (!changed) return;
        QuotaSettings? strictest = null;
        foreach (var entry in _limits.Values) strictest = strictest is null ? entry.Settings : strictest.Strictest(entry.Settings);
        _effective = strictest ?? QuotaSettings.Default;
    }

    private void ExpireLeases(DateTimeOffset now)
    {
        List<Guid>? expired = null;
        foreach (var (id, lease) in _leases)
        {
            if (lease.ExpiresAt <= now) (expired ??= []).Add(id);
        }
        if (expired is null) return;
        foreach (var id in expired)
        {
            _leases.Remove(id, out var lease);
            var p = (int)lease.Purpose;
            _leasesByPurpose[p]--;
            // Its holder is gone; the call may have reached Marketo up to now, so it stays in the window 20 s more.
            // It stays counted in the day too: we cannot know it did not run.
            _released.Enqueue(new WindowEntry(now + Window, lease.Purpose));
            _releasedByPurpose[p]++;
        }
    }

    private void PruneWindow(DateTimeOffset now)
    {
        while (_released.TryPeek(out var entry) && entry.Ends <= now)
        {
            _released.Dequeue();
            _releasedByPurpose[(int)entry.Purpose]--;
        }
    }

    private readonly record struct Lease(MarketoCallPurpose Purpose, DateTimeOffset GrantedAt, DateTimeOffset ExpiresAt, DateOnly Day, int Hour);

    private readonly record struct WindowEntry(DateTimeOffset Ends, MarketoCallPurpose Purpose);

    private sealed class ProjectLimits(QuotaSettings settings, DateTimeOffset seenAt)
    {
        public QuotaSettings Settings { get; set; } = settings;
        public DateTimeOffset SeenAt { get; set; } = seenAt;
    }

    /// <summary>
    /// Slowing down after Marketo said 606 or 615 (other integrations share the instance's window and slots):
    /// each hit pauses everyone for 2, 4, 8, 16, 32 s and halves the limit (down to an eighth); each quiet window
    /// after the pause undoes one step. A hit from a call sent before the previous hit does not add a step: it was
    /// already on its way when we slowed down.
    /// </summary>
    private sealed class Backoff
    {
        private const int MaxLevel = 5;
        private const int MaxHalvings = 3;
        private static readonly TimeSpan BasePause = TimeSpan.FromSeconds(2);

        private int _level;
        private DateTimeOffset _lastHitAt = DateTimeOffset.MinValue;

        public DateTimeOffset PausedUntil { get; private set; } = DateTimeOffset.MinValue;

        public void Hit(DateTimeOffset now, DateTimeOffset? sentAt)
        {
            Decay(now);
            if (sentAt is { } sent && sent < _lastHitAt) return;
            _lastHitAt = now;
            _level = Math.Min(_level + 1, MaxLevel);
            var until = now + BasePause * (1 << (_level - 1));
            if (until > PausedUntil) PausedUntil = until;
        }

        public int Reduce(int limit, DateTimeOffset now)
        {
            Decay(now);
            return Math.Max(1, limit >> Math.Min(_level, MaxHalvings));
        }

        private void Decay(DateTimeOffset now)
        {
            while (_level > 0 && now >= PausedUntil + Window)
            {
                _level--;
                PausedUntil += Window;
            }
        }
    }
}

/// <summary>The ledger's answer: a permit (granted or denied), or "persist a reservation first, then ask again".</summary>
public readonly record struct QuotaDecision(QuotaPermit? Permit, bool NeedsReservation)
{
    /// <summary>Allowed, but the day's count would pass the persisted reservation.</summary>
    public static QuotaDecision Reserve { get; } = new(null, true);
}
