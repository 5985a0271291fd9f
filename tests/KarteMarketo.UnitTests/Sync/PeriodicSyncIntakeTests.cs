using System.Reflection;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Contracts.Projects;
using KarteMarketo.Grains.Flows.LeadSync;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace KarteMarketo.UnitTests.Sync;

/// <summary>When a seen email makes the request wait for its periodic-queue write, when the write goes on in the
/// background, when one small read of the queue's removal count shows it is still queued, and when nothing is read or
/// written at all.</summary>
public sealed class PeriodicSyncIntakeTests : IDisposable
{
    private const string Project = "p";
    private static readonly ProjectSettings Settings = new(
        new MarketoSettings("c", "s", "https://x/rest", "https://x/identity", null, [], [], "UTC"),
        new PeriodicSyncSettings(true, 30), new RealtimeSyncSettings(true, ["email"], 60, 0),
        QuotaSettings.Default, [], []);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 4, 12, 0, 0, TimeSpan.Zero));
    private readonly GatedQueue _queue = new();
    private readonly PeriodicSyncIntake _intake;

    public PeriodicSyncIntakeTests()
    {
        _intake = new PeriodicSyncIntake(_queue, NoOpGrains.Create(), _time, NullLogger<PeriodicSyncIntake>.Instance);
    }

    public void Dispose() => _intake.Dispose();

    private Task AddAsync(params string[] emails) => _intake.AddAsync(Project, Settings, emails);

    private async Task StoreAsync(params string[] emails)
    {
        _queue.Open();
        await AddAsync(emails);
        _queue.Close();
    }

    [Fact]
    public async Task A_new_email_is_stored_before_the_request_is_answered()
    {
        var add = AddAsync("a@example.com");
        Assert.False(add.IsCompleted);                      // waiting for the database
        Assert.Equal(["a@example.com"], _queue.Written);
        _queue.Open();
        await add;
    }

    [Fact]
    public async Task Seen_again_within_ten_seconds_it_is_neither_written_nor_waited_for()
    {
        await StoreAsync("a@example.com");
        _time.Advance(PeriodicSyncIntake.RecentlyQueuedFor - TimeSpan.FromMilliseconds(1));

        Assert.True(_intake.IsRecentlyQueued(Project, Settings, "a@example.com"));
        Assert.True(AddAsync("a@example.com").IsCompletedSuccessfully);
        await _intake.WhenRefreshedAsync();
        Assert.Single(_queue.Written);
    }

    [Fact]
    public async Task Seen_again_later_with_no_run_having_removed_anything_one_read_confirms_it_and_nothing_is_written()
    {
        await StoreAsync("a@example.com", "b@example.com");
        _time.Advance(TimeSpan.FromSeconds(20));
        var readsBefore = _queue.RemovalReads;

        Assert.False(_intake.IsRecentlyQueued(Project, Settings, "a@example.com"));
        Assert.True(AddAsync("a@example.com").IsCompletedSuccessfully);
        Assert.True(AddAsync("b@example.com").IsCompletedSuccessfully);   // the same reading, not a second one
        await _intake.WhenRefreshedAsync();

        Assert.Equal(["a@example.com", "b@example.com"], _queue.Written);
        Assert.Equal(readsBefore + 1, _queue.RemovalReads);
        // Known queued as of the reading (20 s in): recent for ten more seconds, then read again.
        _time.Advance(PeriodicSyncIntake.RecentlyQueuedFor - TimeSpan.FromMilliseconds(1));
        Assert.True(_intake.IsRecentlyQueued(Project, Settings, "a@example.com"));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(_intake.IsRecentlyQueued(Project, Settings, "a@example.com"));

        // Even after the minute: nothing was removed, so the row is still there.
        _time.Advance(PeriodicSyncIntake.RefreshedAheadFor);
        Assert.True(AddAsync("a@example.com").IsCompletedSuccessfully);
        Assert.Equal(2, _queue.Written.Count);
        Assert.Equal(readsBefore + 2, _queue.RemovalReads);
    }

    [Fact]
    public async Task Requests_that_need_the_removal_count_at_once_share_one_read()
    {
        await StoreAsync("a@example.com", "b@example.com");
        _time.Advance(TimeSpan.FromSeconds(20));
        var readsBefore = _queue.RemovalReads;
        _queue.HoldReads();

        var first = AddAsync("a@example.com");
        var second = AddAsync("b@example.com");
        Assert.False(first.IsCompleted);                    // both wait for the one read in flight
        Assert.False(second.IsCompleted);
        _queue.ReleaseReads();
        await Task.WhenAll(first, second);

        Assert.Equal(readsBefore + 1, _queue.RemovalReads);
        Assert.Equal(2, _queue.Written.Count);
        Assert.True(_intake.IsRecentlyQueued(Project, Settings, "b@example.com"));
    }

    [Fact]
    public async Task Seen_again_later_within_the_minute_after_a_run_removed_emails_it_is_queued_again_in_the_background_once()
    {
        await StoreAsync("a@example.com", "b@example.com");
        _time.Advance(TimeSpan.FromSeconds(20));
        _queue.Removals++;                                  // a periodic run completed a chunk meanwhile

        Assert.False(_intake.IsRecentlyQueued(Project, Settings, "a@example.com"));
        var first = AddAsync("a@example.com");
        var second = AddAsync("a@example.com");             // while the first one's write still runs
        Assert.True(first.IsCompletedSuccessfully);         // answered although the queue has not stored it yet
        Assert.True(second.IsCompletedSuccessfully);
        var refreshed = _intake.WhenRefreshedAsync();
        Assert.False(refreshed.IsCompleted);

        _queue.Open();
        await refreshed;
        Assert.Equal(["a@example.com", "b@example.com", "a@example.com"], _queue.Written);
        // Stored again 20 s in: recent for ten more seconds.
        _time.Advance(TimeSpan.FromSeconds(9));
        Assert.True(_intake.IsRecentlyQueued(Project, Settings, "a@example.com"));
        Assert.False(_intake.IsRecentlyQueued(Project, Settings, "b@example.com"));

        // Stored after that read, so the next reading with the same count confirms it without a write.
        _time.Advance(TimeSpan.FromSeconds(2));
        _queue.Close();
        Assert.True(AddAsync("a@example.com").IsCompletedSuccessfully);
        await _intake.WhenRefreshedAsync();
        Assert.Equal(3, _queue.Written.Count);
    }

    [Fact]
    public async Task Where_the_removal_count_cannot_be_read_the_email_is_written_again()
    {
        await StoreAsync("a@example.com");
        _time.Advance(TimeSpan.FromSeconds(20));
        _queue.FailReads = true;

        Assert.True(AddAsync("a@example.com").IsCompletedSuccessfully);   // in the background, as before the count
        _queue.Open();
        await _intake.WhenRefreshedAsync();
        Assert.Equal(["a@example.com", "a@example.com"], _queue.Written);
    }

    [Fact]
    public async Task A_request_learns_in_one_reading_which_of_its_emails_still_need_queuing()
    {
        IdentifyInput[] request = [new("u1", "a@example.com", null), new("u2", null, "cookie-1"), new("u3", "b@example.com", null)];
        // Never stored by this silo: every email of the request, none for the cookie-only identify.
        Assert.Equal(["a@example.com", "b@example.com"], _intake.NotRecentlyQueued(Project, Settings, request));

        await StoreAsync("a@example.com");
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(["b@example.com"], _intake.NotRecentlyQueued(Project, Settings, request));
        await StoreAsync("b@example.com");
        Assert.Null(_intake.NotRecentlyQueued(Project, Settings, request));

        // Another interval (a settings change) or another project: nothing counts as queued.
        var hourly = Settings with { PeriodicSync = new PeriodicSyncSettings(true, 60) };
        Assert.Equal(["a@example.com", "b@example.com"], _intake.NotRecentlyQueued(Project, hourly, request));
        Assert.Equal(["a@example.com", "b@example.com"], _intake.NotRecentlyQueued("other", Settings, request));

        _time.Advance(PeriodicSyncIntake.RecentlyQueuedFor);
        Assert.Equal(["a@example.com", "b@example.com"], _intake.NotRecentlyQueued(Project, Settings, request));
    }

    [Fact]
    public async Task Seen_again_after_the_minute_after_a_run_removed_emails_the_request_waits_for_the_write_again()
    {
        await StoreAsync("a@example.com");
        _time.Advance(PeriodicSyncIntake.RefreshedAheadFor);
        _queue.Removals++;

        var add = AddAsync("a@example.com");
        Assert.False(add.IsCompleted);
        _queue.Open();
        await add;
        Assert.Equal(2, _queue.Written.Count);
    }

    [Fact]
    public async Task Emails_not_seen_for_two_minutes_are_forgotten()
    {
        await StoreAsync("a@example.com");
        _time.Advance(PeriodicSyncIntake.RefreshedAheadFor);
        await StoreAsync("b@example.com");
        Assert.Equal(2, _intake.RememberedEmails(Project));
        _time.Advance(PeriodicSyncIntake.RefreshedAheadFor);
        await StoreAsync("c@example.com");

        Assert.Equal(2, _intake.RememberedEmails(Project));     // b and c: a is gone, so memory follows the recent users
        var add = AddAsync("a@example.com");
        Assert.False(add.IsCompleted);
        _queue.Open();
        await add;
    }

    [Fact]
    public async Task A_host_that_stops_seeing_a_project_forgets_its_emails_within_two_minutes_without_a_request()
    {
        await StoreAsync("a@example.com", "b@example.com");
        _time.Advance(PeriodicSyncIntake.RefreshedAheadFor);
        Assert.Equal(2, _intake.RememberedEmails(Project));     // the previous generation still holds them
        _time.Advance(PeriodicSyncIntake.RefreshedAheadFor);
        Assert.Equal(0, _intake.RememberedEmails(Project));
    }

    [Fact]
    public async Task A_failed_background_write_makes_the_next_sighting_wait_for_its_own()
    {
        await StoreAsync("a@example.com");
        _time.Advance(TimeSpan.FromSeconds(30));
        _queue.Removals++;
        _queue.FailNext = true;
        _queue.Open();
        await AddAsync("a@example.com");
        await _intake.WhenRefreshedAsync();
        _queue.Close();

        var add = AddAsync("a@example.com");                // its stored time was forgotten: written as new
        Assert.False(add.IsCompleted);
        _queue.Open();
        await add;
        Assert.Equal(3, _queue.Written.Count);
    }

    /// <summary>Records every email handed to <see cref="AddAsync"/>; a write completes only while the gate is open.</summary>
    private sealed class GatedQueue : IPeriodicSyncQueue
    {
        private readonly Lock _gate = new();
        private TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly List<string> _written = [];

        private TaskCompletionSource? _readsHeld;
        private int _removalReads;

        public bool FailNext { get; set; }

        /// <summary>What <see cref="RemovalsAsync"/> answers: a test adds one where a run removed emails.</summary>
        public long Removals { get; set; }

        public bool FailReads { get; set; }

        public int RemovalReads => Volatile.Read(ref _removalReads);

        public void HoldReads() { lock (_gate) _readsHeld = new(TaskCreationOptions.RunContinuationsAsynchronously); }

        public void ReleaseReads() { lock (_gate) _readsHeld?.TrySetResult(); }

        public async Task<long> RemovalsAsync(string projectId, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _removalReads);
            Task held;
            lock (_gate) held = _readsHeld?.Task ?? Task.CompletedTask;
            await held;
            if (FailReads) throw new InvalidOperationException("unavailable");
            return Removals;
        }

        public IReadOnlyList<string> Written { get { lock (_gate) return [.. _written]; } }

        public void Open() { lock (_gate) _open.TrySetResult(); }

        public void Close() { lock (_gate) _open = new(TaskCreationOptions.RunContinuationsAsynchronously); }

        public async Task AddAsync(string projectId, IReadOnlyCollection<string> emails, DateTimeOffset at, CancellationToken cancellationToken = default)
        {
            Task open;
            bool fail;
            lock (_gate)
            {
                _written.AddRange(emails);
                open = _open.Task;
                fail = FailNext;
                FailNext = false;
            }
            await open;
            if (fail) throw new InvalidOperationException("refused");
        }

        public Task<int> StartRunAsync(string projectId, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public Task<IReadOnlyList<string>> NextInRunAsync(string projectId, int limit, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public Task CompleteAsync(string projectId, IReadOnlyCollection<string> emails, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public Task StopRunAsync(string projectId, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public Task MarkLookedUpAsync(string projectId, IReadOnlyCollection<string> emails, DateTimeOffset at, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public Task<IReadOnlySet<string>> LookedUpSinceAsync(string projectId, IReadOnlyCollection<string> emails, DateTimeOffset since, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public Task<(int Waiting, int InRun)> CountAsync(string projectId, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }

    /// <summary>A grain factory whose only use here, the scheduler's <c>EnsureScheduledAsync</c>, does nothing.</summary>
    public class NoOpGrains : DispatchProxy
    {
        public static IGrainFactory Create() => DispatchProxy.Create<IGrainFactory, NoOpGrains>();

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            if (targetMethod is { Name: nameof(IGrainFactory.GetGrain), ReturnType: var type } && type == typeof(ISyncSchedulerGrain))
                return DispatchProxy.Create<ISyncSchedulerGrain, NoOpScheduler>();
            throw new NotSupportedException(targetMethod?.Name);
        }
    }

    public class NoOpScheduler : DispatchProxy
    {
        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
            targetMethod?.Name == nameof(ISyncSchedulerGrain.EnsureScheduledAsync) ? Task.CompletedTask : throw new NotSupportedException(targetMethod?.Name);
    }
}
