using System.Security.Cryptography;
using System.Text;
using KarteMarketo.Contracts.Outbox;
using KarteMarketo.Grains.Outbox;
using KarteMarketo.Grains.Projects;
using KarteMarketo.Karte;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KarteMarketo.Grains.Flows.KarteWriteBack;

/// <summary>
/// Sends a project's queued KARTE writes (the shared outbox, kind <c>karte</c>): one call per row, users in parallel,
/// each user's rows in order. One activation per project in the cluster, so its rate gate is the project's ceiling
/// (<c>karte.requestsPerSecond</c>). A 429/5xx/time-out holds every later row until the retry (order per user);
/// 400/404/413 fail the row with KARTE's answer; 401/403 pause the project until its settings change.
/// </summary>
[GrainType("karte-write-dispatcher")]
public sealed partial class KarteWriteDispatcherGrain(
    IOutboxStore store,
    IProjectDirectory projects,
    IKarteClient client,
    IKarteWriteQueue queue,
    TimeProvider time,
    IOptions<OutboxOptions> options,
    IOptions<KarteWriteOptions> karteOptions,
    ILogger<KarteWriteDispatcherGrain> logger)
    : OutboxDispatcherGrain(store, projects, time, options, logger), IKarteWriteDispatcherGrain
{
    private string? _pausedFingerprint;
    private string? _pausedReason;
    private DateTimeOffset? _pausedAt;
    // After a retryable answer nothing is sent before this instant: a user's later rows must not overtake the one retried.
    private DateTimeOffset _holdUntil;
    // Send instants of the last RateWindow, oldest first, and the latest: the gate counts calls actually sent.
    private readonly Queue<DateTimeOffset> _sentInWindow = new();
    private DateTimeOffset _lastSentAt = DateTimeOffset.MinValue;

    /// <summary>The span in which at most <c>requestsPerSecond</c> calls go: a second and a margin, because KARTE
    /// counts arrivals, and a call's way there (a busy host, the connection pool) can take tens of milliseconds more
    /// than the one before it. Measured without it: 102–107 calls in one second at a ceiling of 100 on a loaded host.</summary>
    private static readonly TimeSpan RateWindow = TimeSpan.FromMilliseconds(1_050);

    protected override OutboxKind Kind => OutboxKind.Karte;

    private KarteWriteOptions KarteOptions => karteOptions.Value;

    public async Task SettingsChangedAsync()
    {
        Projects.Invalidate(ProjectId);
        var wasPaused = _pausedFingerprint is not null;
        _pausedFingerprint = null;
        _pausedReason = null;
        _pausedAt = null;
        // Rows released while paused wait for the recheck; new settings may fix what paused them, so they are due now.
        var due = await Store.MakeDueAsync(ProjectId, Kind, Time.GetUtcNow());
        if (wasPaused || due > 0) await WakeAsync(due);
    }

    public Task<KarteDispatcherStatus> GetKarteStatusAsync() =>
        Task.FromResult(new KarteDispatcherStatus(_pausedFingerprint is not null, _pausedReason, _pausedAt));

    protected override async Task<BatchResult> SendBatchAsync(ProjectSettings settings, IReadOnlyList<OutboxRow> rows, Guid leaseId,
        CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        var karte = settings.Karte;
        if (!karte.IsActive || _pausedFingerprint == Fingerprint(karte))
            return Hold(rows, now, KarteOptions.PausedRecheck);
        if (_holdUntil > now) return Hold(rows, now, _holdUntil - now);

        var connection = new KarteConnection(new Uri(karte.Endpoint), karte.AppToken!);
        var run = new BatchRun();
        using var lanes = new SemaphoreSlim(Math.Max(1, KarteOptions.MaxConcurrentCalls));
        // Grouped by user in id order: a user's rows go one after another, different users side by side.
        var users = rows.GroupBy(r => r.UserId ?? "", StringComparer.Ordinal).Select(g => g.OrderBy(r => r.Id).ToList()).ToList();
        await Task.WhenAll(users.Select(lane => RunLaneAsync(lane, lanes, connection, karte, leaseId, run, cancellationToken)));

        // Rows never tried (a stop came first) wait as long as the longest hold; not an attempt.
        var end = Time.GetUtcNow();
        var wait = run.Hold ?? TimeSpan.Zero;
        foreach (var row in rows.Where(r => !run.Outcomes.ContainsKey(r.Id) && !run.TakenOver.Contains(r.Id)))
            run.Outcomes[row.Id] = Pending(row, row.Attempts, end, wait, run.HoldCode, run.HoldMessage);
        if (run.Hold is { } hold && run.Unauthorized is null) _holdUntil = end + hold;
        if (run.Unauthorized is { } reason)
        {
            _pausedFingerprint = Fingerprint(karte);
            _pausedReason = reason;
            _pausedAt = end;
            LogPaused(ProjectId, reason);
        }
        foreach (var userId in run.Refused) await queue.ForgetValuesAsync(ProjectId, userId, cancellationToken);
        return new BatchResult([.. run.Outcomes.Values], run.Hold);
    }

    private async Task RunLaneAsync(List<OutboxRow> lane, SemaphoreSlim lanes, KarteConnection connection, KarteSettings karte,
        Guid leaseId, BatchRun run, CancellationToken cancellationToken)
    {
        await lanes.WaitAsync(cancellationToken);
        try
        {
            if (run.Stopped) return;
            // The last write before these rows go out: after a crash from here on, a resend is flagged possibleDuplicate.
            var ids = lane.Select(r => r.Id).ToArray();
            if (await Store.MarkSendingAsync(leaseId, ids, Time.GetUtcNow(), cancellationToken) != ids.Length)
            {
                // Another activation put them back and may send them: sending here too could write them twice.
                foreach (var id in ids) run.TakenOver.Add(id);
                return;
            }
            for (var i = 0; i < lane.Count; i++)
            {
                if (run.Stopped) return;
                var row = lane[i];
                await WaitForSlotAsync(karte.RequestsPerSecond, cancellationToken);
                if (run.Stopped) return;
                var (eventName, values) = KarteWritePayload.Parse(row.Payload);
                var result = await client.WriteAsync(connection, new KarteWriteRequest(row.UserId ?? "", [new KarteEvent(eventName, values)]),
                    cancellationToken);
                CountCalls(1);
                var now = Time.GetUtcNow();
                switch (result.Outcome)
                {
                    case KarteWriteOutcome.Delivered:
                        KarteWriteMetrics.Record(KarteWriteMetrics.Delivered);
                        run.Outcomes[row.Id] = new OutboxOutcome(row.Id, OutboxStatus.Delivered, row.Attempts + 1, now)
                            { DeliveredAt = now, Result = new System.Text.Json.Nodes.JsonObject { ["status"] = result.StatusCode } };
                        break;
                    case KarteWriteOutcome.Failed:
                        KarteWriteMetrics.Record(KarteWriteMetrics.Failed);
                        run.Outcomes[row.Id] = new OutboxOutcome(row.Id, OutboxStatus.Failed, row.Attempts + 1, now)
                            { ErrorCode = result.StatusCode?.ToString(System.Globalization.CultureInfo.InvariantCulture), ErrorMessage = result.Error };
                        if (eventName == KarteWritePayload.IdentifyEvent && row.UserId is { } refused) run.Refused.Add(refused);
                        break;
                    case KarteWriteOutcome.Unauthorized:
                        KarteWriteMetrics.Record(KarteWriteMetrics.Unauthorized);
                        run.Stop(KarteOptions.PausedRecheck, result.StatusCode, result.Error);
                        run.Unauthorized ??= result.Error ?? "KARTE refused the app token";
                        run.Outcomes[row.Id] = Pending(row, row.Attempts, now, KarteOptions.PausedRecheck, result.StatusCode, result.Error);
                        break;
                    default:
                        var throttled = result.StatusCode == 429;
                        KarteWriteMetrics.Record(throttled ? KarteWriteMetrics.Throttled : KarteWriteMetrics.Retried);
                        // A 429 is KARTE's limit, not the row's fault: no attempt is spent on it.
                        var attempts = throttled ? row.Attempts : row.Attempts + 1;
                        var delay = result.RetryAfter ?? (throttled ? KarteOptions.ThrottledDelay : Options.BackoffFor(attempts));
                        if (delay <= TimeSpan.Zero) delay = TimeSpan.FromSeconds(1);
                        if (!throttled && attempts >= Options.MaxAttempts)
                        {
                            run.Outcomes[row.Id] = new OutboxOutcome(row.Id, OutboxStatus.Failed, attempts, now)
                                { ErrorCode = result.StatusCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "timeout", ErrorMessage = result.Error };
                            break;
                        }
                        run.Stop(delay, result.StatusCode, result.Error);
                        run.Outcomes[row.Id] = Pending(row, attempts, now, run.Hold!.Value, result.StatusCode, result.Error);
                        // The rest of this user's rows wait exactly as long, so they stay behind this one.
                        foreach (var later in lane.Skip(i + 1))
                            run.Outcomes[later.Id] = Pending(later, later.Attempts, now, run.Hold!.Value, result.StatusCode, result.Error);
                        return;
                }
            }
        }
        finally
        {
            lanes.Release();
        }
    }

    /// <summary>
    /// The rate gate: calls go at least <see cref="RateWindow"/>/<c>requestsPerSecond</c> after the previous one was
    /// actually sent, and never more than <c>requestsPerSecond</c> within a <see cref="RateWindow"/>. Both count send
    /// instants, not planned slots: a lane that resumes late goes later, it does not catch up with those behind it.
    /// The grain's turns do not interleave between the check and the record, so lanes cannot pass together.
    /// </summary>
    private async Task WaitForSlotAsync(int requestsPerSecond, CancellationToken cancellationToken)
    {
        var limit = Math.Clamp(requestsPerSecond, 1, 1000);
        var interval = TimeSpan.FromTicks(RateWindow.Ticks / limit);
        while (true)
        {
            var now = Time.GetUtcNow();
            while (_sentInWindow.TryPeek(out var oldest) && oldest + RateWindow <= now) _sentInWindow.Dequeue();
            var spacedAt = _lastSentAt == DateTimeOffset.MinValue ? now : _lastSentAt + interval;
            var windowAt = _sentInWindow.Count < limit ? now : _sentInWindow.Peek() + RateWindow;
            var at = spacedAt > windowAt ? spacedAt : windowAt;
            if (at <= now)
            {
                _sentInWindow.Enqueue(now);
                _lastSentAt = now;
                return;
            }
            await Task.Delay(at - now, Time, cancellationToken);
        }
    }

    private BatchResult Hold(IReadOnlyList<OutboxRow> rows, DateTimeOffset now, TimeSpan wait) =>
        new([.. rows.Select(r => Pending(r, r.Attempts, now, wait, null, null) with { ErrorCode = r.ErrorCode, ErrorMessage = r.ErrorMessage })], wait);

    private static OutboxOutcome Pending(OutboxRow row, int attempts, DateTimeOffset now, TimeSpan wait, int? status, string? error) =>
        new(row.Id, OutboxStatus.Pending, attempts, now + (wait > TimeSpan.Zero ? wait : TimeSpan.Zero))
        {
            ErrorCode = status?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? (error is null ? null : "timeout"),
            ErrorMessage = error,
        };

    /// <summary>Which endpoint and token a pause is about (a hash: the token itself is not kept apart from the settings).</summary>
    private static string Fingerprint(KarteSettings karte) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(karte.Endpoint + "\n" + karte.AppToken)));

    /// <summary>One batch's shared state; lanes run on the grain's scheduler, one at a time between awaits.</summary>
    private sealed class BatchRun
    {
        public Dictionary<long, OutboxOutcome> Outcomes { get; } = [];
        public HashSet<long> TakenOver { get; } = [];
        public HashSet<string> Refused { get; } = new(StringComparer.Ordinal);
        public bool Stopped => Hold is not null;
        public TimeSpan? Hold { get; private set; }
        public int? HoldCode { get; private set; }
        public string? HoldMessage { get; private set; }
        public string? Unauthorized { get; set; }

        public void Stop(TimeSpan wait, int? code, string? message)
        {
            if (Hold is { } current && current >= wait) return;
            Hold = wait;
            HoldCode = code;
            HoldMessage = message;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project {ProjectId}: KARTE writes paused until the settings change: {Reason}")]
    private partial void LogPaused(string projectId, string reason);
}
