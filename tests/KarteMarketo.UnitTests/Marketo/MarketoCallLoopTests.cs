using KarteMarketo.Contracts.Quota;
using KarteMarketo.Grains.Marketo;
using KarteMarketo.Marketo;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace KarteMarketo.UnitTests.Marketo;

/// <summary>The gateway's loop: permit → one attempt → release → retry decision, with a recording permit source.</summary>
public sealed class MarketoCallLoopTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));

    private static MarketoResult<int> Answer(string? code, bool counted = true) => code is null
        ? MarketoResult<int>.Ok(7, "r")
        : new MarketoResult<int>(MarketoErrorCodes.Classify(code), 0, [new MarketoError(code, "m")], "r") { CountedByMarketo = counted };

    private MarketoCallLoop Loop(int maxRetries = 3, TimeSpan? baseDelay = null) =>
        new(new MarketoRetryOptions { MaxRetries = maxRetries, RetryBaseDelay = baseDelay ?? TimeSpan.Zero, RetryMaxDelay = TimeSpan.FromSeconds(30) },
            _time, NullLogger.Instance);

    [Fact]
    public async Task Each_retry_takes_a_permit_of_its_own_after_the_previous_one_went_back()
    {
        var permits = new RecordingPermits();
        var answers = new Queue<MarketoResult<int>>([Answer("502"), Answer("713"), Answer(null)]);

        var call = await Loop().RunAsync(MarketoCallPurpose.Realtime, permits, _ => Task.FromResult(answers.Dequeue()), CancellationToken.None);

        Assert.IsType<MarketoOutcome.Completed>(call.Outcome);
        Assert.Equal(7, call.Value);
        Assert.Equal(3, call.Attempts);
        // acquire, release, acquire, release…: no attempt runs without its own lease, none holds two.
        Assert.Equal(["acquire", "release", "acquire", "release", "acquire", "release"], permits.Log.Select(e => e.Step));
        var leases = permits.Log.Where(e => e.Step == "release").Select(e => e.Lease).ToList();
        Assert.Equal(3, leases.Distinct().Count());
        Assert.Equal(permits.Granted, leases);
        Assert.All(permits.Log.Where(e => e.Step == "release"), e => Assert.Equal(MarketoCallOutcome.Counted, e.Outcome));
    }

    [Fact]
    public async Task A_refused_permit_stops_retrying()
    {
        var permits = new RecordingPermits { GrantFirst = 1, Refusal = QuotaPermit.Deny(QuotaDenial.RateWindow, TimeSpan.FromSeconds(3)) };
        var attempts = 0;

        var call = await Loop().RunAsync(MarketoCallPurpose.Periodic, permits, _ =>
        {
            attempts++;
            return Task.FromResult(Answer("608", counted: false));
        }, CancellationToken.None);

        Assert.Equal(1, attempts);
        Assert.Equal(1, call.Attempts);
        // The attempt that went out failed transiently; no second one was made without a permit.
        Assert.Equal("608", Assert.IsType<MarketoOutcome.RetryAfter>(call.Outcome).Error.Code);
        Assert.Equal(["acquire", "release", "acquire"], permits.Log.Select(e => e.Step));
        Assert.Equal(MarketoCallOutcome.NotCounted, permits.Log[1].Outcome);
    }

    [Theory]
    [InlineData(QuotaDenial.DailyBudget, DeferReason.DailyBudget)]
    [InlineData(QuotaDenial.RateWindow, DeferReason.RateWindow)]
    [InlineData(QuotaDenial.Concurrency, DeferReason.Concurrency)]
    [InlineData(QuotaDenial.QuotaExhausted, DeferReason.QuotaExhausted)]
    [InlineData(QuotaDenial.BackingOff, DeferReason.BackingOff)]
    public async Task A_refused_first_permit_defers_the_call_without_sending_it(QuotaDenial denial, DeferReason reason)
    {
        var permits = new RecordingPermits { GrantFirst = 0, Refusal = QuotaPermit.Deny(denial, TimeSpan.FromSeconds(9)) };

        var call = await Loop().RunAsync<int>(MarketoCallPurpose.Leads, permits,
            _ => throw new InvalidOperationException("no attempt without a permit"), CancellationToken.None);

        var deferred = Assert.IsType<MarketoOutcome.Deferred>(call.Outcome);
        Assert.Equal(reason, deferred.Reason);
        Assert.Equal(TimeSpan.FromSeconds(9), deferred.Delay);
        Assert.Equal("quota", deferred.Error.Code);
        Assert.Equal(0, call.Attempts);
        Assert.Null(call.Result);
        Assert.Equal(["acquire"], permits.Log.Select(e => e.Step));
    }

    [Theory]
    [InlineData("606", DeferReason.MarketoRateLimited, MarketoCallOutcome.RateLimited)]
    [InlineData("615", DeferReason.MarketoConcurrencyLimited, MarketoCallOutcome.ConcurrencyLimited)]
    [InlineData("607", DeferReason.MarketoDailyQuota, MarketoCallOutcome.DailyQuotaExhausted)]
    public async Task Marketos_throttling_is_deferred_not_retried_and_reported_to_the_quota(string code, DeferReason reason, MarketoCallOutcome released)
    {
        var permits = new RecordingPermits();

        var call = await Loop().RunAsync(MarketoCallPurpose.Activities, permits, _ => Task.FromResult(Answer(code)), CancellationToken.None);

        Assert.Equal(reason, Assert.IsType<MarketoOutcome.Deferred>(call.Outcome).Reason);
        Assert.Equal(1, call.Attempts);
        Assert.Equal(["acquire", "release"], permits.Log.Select(e => e.Step));
        Assert.Equal(released, permits.Log[1].Outcome);
    }

    [Theory]
    [InlineData("1006", false)]
    [InlineData("1003", false)]
    [InlineData("601", true)]
    public async Task A_failed_request_is_not_retried(string code, bool credentials)
    {
        var permits = new RecordingPermits();

        var call = await Loop().RunAsync(MarketoCallPurpose.Other, permits, _ => Task.FromResult(Answer(code)), CancellationToken.None);

        var failed = Assert.IsType<MarketoOutcome.Failed>(call.Outcome);
        Assert.Equal(code, failed.Code);
        Assert.Equal(credentials, failed.CredentialsRefused);
        Assert.Equal(1, call.Attempts);
        Assert.Equal(code, call.Errors[0].Code);
    }

    [Fact]
    public async Task Spent_retries_end_as_RetryAfter_with_the_next_back_off()
    {
        var permits = new RecordingPermits();

        var call = await Loop(maxRetries: 2).RunAsync(MarketoCallPurpose.Other, permits, _ => Task.FromResult(Answer("604", counted: false)),
            CancellationToken.None);

        Assert.Equal(3, call.Attempts);
        Assert.Equal(3, permits.Granted.Count);
        Assert.Equal(TimeSpan.Zero, Assert.IsType<MarketoOutcome.RetryAfter>(call.Outcome).Delay);
        Assert.All(permits.Log.Where(e => e.Step == "release"), e => Assert.Equal(MarketoCallOutcome.NotCounted, e.Outcome));
    }

    [Fact]
    public async Task The_back_off_waits_on_the_injected_clock_holding_no_permit()
    {
        var permits = new RecordingPermits();
        var answers = new Queue<MarketoResult<int>>([Answer("502"), Answer(null)]);

        var call = Loop(maxRetries: 1, baseDelay: TimeSpan.FromSeconds(2))
            .RunAsync(MarketoCallPurpose.Realtime, permits, _ => Task.FromResult(answers.Dequeue()), CancellationToken.None);
        // 2 s ± 20 %: not before 1.6 s of the fake clock.
        await WaitUntilAsync(() => permits.Log.Count == 2);
        _time.Advance(TimeSpan.FromSeconds(1.5));
        await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System);
        Assert.False(call.IsCompleted);
        Assert.Equal(["acquire", "release"], permits.Log.Select(e => e.Step));   // the slot went back before the wait

        _time.Advance(TimeSpan.FromSeconds(1));
        var done = await call.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.IsType<MarketoOutcome.Completed>(done.Outcome);
        Assert.Equal(2, done.Attempts);
    }

    [Fact]
    public async Task An_attempt_that_throws_gives_its_permit_back_as_counted()
    {
        var permits = new RecordingPermits();

        await Assert.ThrowsAsync<InvalidOperationException>(() => Loop().RunAsync<int>(MarketoCallPurpose.Leads, permits,
            _ => throw new InvalidOperationException("rows taken over"), CancellationToken.None));

        Assert.Equal(["acquire", "release"], permits.Log.Select(e => e.Step));
        Assert.Equal(MarketoCallOutcome.Counted, permits.Log[1].Outcome);
    }

    [Theory]
    [InlineData(0, 1000)]
    [InlineData(1, 2000)]
    [InlineData(3, 8000)]
    [InlineData(10, 1024000)]
    public void The_back_off_doubles_within_its_jitter_and_its_cap(int retry, double middleMs)
    {
        var options = new MarketoRetryOptions { RetryBaseDelay = TimeSpan.FromSeconds(1), RetryMaxDelay = TimeSpan.FromSeconds(30) };
        var low = options.BackoffFor(retry, 0).TotalMilliseconds;
        var high = options.BackoffFor(retry, 1).TotalMilliseconds;
        Assert.InRange(low, Math.Min(middleMs * 0.8, 30000) - 1, Math.Min(middleMs * 0.8, 30000) + 1);
        Assert.InRange(high, Math.Min(middleMs * 1.2, 30000) - 1, Math.Min(middleMs * 1.2, 30000) + 1);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++) await Task.Delay(TimeSpan.FromMilliseconds(10), TimeProvider.System);
        Assert.True(condition());
    }

    private sealed class RecordingPermits : IMarketoPermits
    {
        private readonly Lock _gate = new();
        private int _asked;

        /// <summary>How many permits are granted before <see cref="Refusal"/> answers.</summary>
        public int GrantFirst { get; init; } = int.MaxValue;
        public QuotaPermit Refusal { get; init; } = QuotaPermit.Deny(QuotaDenial.Concurrency, TimeSpan.FromSeconds(1));
        public List<(string Step, Guid Lease, MarketoCallOutcome? Outcome)> Log { get; } = [];
        public List<Guid> Granted { get; } = [];

        public Task<QuotaPermit> AcquireAsync(CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                Log.Add(("acquire", Guid.Empty, null));
                if (_asked++ >= GrantFirst) return Task.FromResult(Refusal);
                var lease = Guid.NewGuid();
                Granted.Add(lease);
                return Task.FromResult(QuotaPermit.Grant(lease));
            }
        }

        public Task ReleaseAsync(Guid leaseId, MarketoCallOutcome outcome)
        {
            lock (_gate)
            {
                Log.Add(("release", leaseId, outcome));
            }
            return Task.CompletedTask;
        }
    }
}
