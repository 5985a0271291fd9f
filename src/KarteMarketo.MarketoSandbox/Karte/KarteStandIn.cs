using System.Text;
using System.Text.Json.Nodes;

namespace KarteMarketo.MarketoSandbox.Karte;

/// <summary>The KARTE stand-in's settings (configuration section <c>Sandbox:Karte</c>).</summary>
public sealed class KarteStandInOptions
{
    /// <summary>The app token it accepts (KARTE issues one per app in its admin screen).</summary>
    public string AppToken { get; set; } = "karte-sandbox-app-token";
}

/// <summary>One event the stand-in recorded. <paramref name="RepeatOf"/>: the sequence of an earlier event of the same
/// user with the same name and values (KARTE would record both: its write API is not idempotent), else null.</summary>
public sealed record KarteReceivedEvent(long Sequence, string? UserId, string? VisitorId, string EventName, JsonObject Values, DateTimeOffset At,
    long? RepeatOf = null);

/// <summary>A fault the next write calls get instead of KARTE's normal answer.</summary>
public enum KarteFaultKind
{
    /// <summary>429 with <c>Retry-After</c>.</summary>
    TooManyRequests = 0,
    /// <summary>A 5xx (500 unless a status is given).</summary>
    ServerError = 1,
    /// <summary>No answer until the caller gives up.</summary>
    Hang = 2,
    /// <summary>401, as for a revoked token.</summary>
    Unauthorized = 3,
    /// <summary>KARTE is slow: the call is handled (and recorded) as usual, but answered only after a delay. A caller
    /// that dies meanwhile has written the event without knowing it.</summary>
    Slow = 4,
}

/// <summary>
/// A stand-in for KARTE's write API (<c>POST /v2/track/event/write</c>) with KARTE's rules as karte-facts.md states
/// them: Bearer app token; one user per call (<c>keys</c> is one object with <c>user_id</c> xor <c>visitor_id</c>,
/// <c>user_id</c> at most 512 bytes); <c>event</c> or <c>events</c>; reserved event names refused with 400. Records what it
/// took, counts every answer, measures the most write calls it saw in any one second (on its clock), and injects faults.
/// Thread-safe.
/// </summary>
public sealed class KarteStandIn(KarteStandInOptions? options = null, TimeProvider? time = null)
{
    public const int MaxUserIdBytes = 512;

    public static IReadOnlySet<string> ReservedEventNames { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "page", "req", "enter_group", "leave_group", "view", "group", "message_send", "date", "message_open",
        "message_click", "message_clicked", "message_close",
    };

    private readonly Lock _gate = new();
    private readonly List<KarteReceivedEvent> _received = [];
    private readonly Queue<DateTimeOffset> _lastSecond = new();
    private readonly Dictionary<int, long> _answers = [];
    private readonly List<(KarteFaultKind Kind, int Remaining, int RetryAfterSeconds, int Status, int DelayMilliseconds)> _faults = [];
    // First sequence of each (user, event name, values) seen: what a repeat points back to.
    private readonly Dictionary<string, long> _firstOfContent = new(StringComparer.Ordinal);
    private DateTimeOffset? _firstCallAt;
    private DateTimeOffset? _lastCallAt;
    private long _repeats;
    private string _appToken = (options ?? new KarteStandInOptions()).AppToken;
    private long _sequence;
    private int _maxPerSecond;
    private long _calls;

    public TimeProvider Time { get; } = time ?? TimeProvider.System;

    /// <summary>The app token accepted now.</summary>
    public string AppToken
    {
        get { lock (_gate) return _appToken; }
        set { lock (_gate) _appToken = value; }
    }

    /// <summary>Write calls seen (any answer).</summary>
    public long Calls { get { lock (_gate) return _calls; } }

    /// <summary>The most write calls that arrived within one second (a window <c>(t − 1 s, t]</c> on the stand-in's clock).</summary>
    public int MaxRequestsPerSecond { get { lock (_gate) return _maxPerSecond; } }

    /// <summary>Answers given, by HTTP status.</summary>
    public IReadOnlyDictionary<int, long> Answers { get { lock (_gate) return new Dictionary<int, long>(_answers); } }

    /// <summary>Everything recorded, in arrival order.</summary>
    public IReadOnlyList<KarteReceivedEvent> Received { get { lock (_gate) return [.. _received]; } }

    /// <summary>Events recorded that repeat an earlier one exactly (same user, name and values).</summary>
    public long Repeats { get { lock (_gate) return _repeats; } }

    /// <summary>The next <paramref name="count"/> write calls fail with <paramref name="kind"/> (for
    /// <see cref="KarteFaultKind.Slow"/>: are answered <paramref name="delayMilliseconds"/> late).</summary>
    public void AddFault(KarteFaultKind kind, int count, int retryAfterSeconds = 1, int status = 0, int delayMilliseconds = 0)
    {
        lock (_gate) _faults.Add((kind, count, retryAfterSeconds, status, Math.Max(0, delayMilliseconds)));
    }

    public void ClearFaults()
    {
        lock (_gate) _faults.Clear();
    }

    public void Reset()
    {
        lock (_gate)
        {
            _received.Clear();
            _firstOfContent.Clear();
            _firstCallAt = null;
            _lastCallAt = null;
            _repeats = 0;
            _lastSecond.Clear();
            _answers.Clear();
            _faults.Clear();
            _maxPerSecond = 0;
            _calls = 0;
        }
    }

    /// <summary>What a write call gets: the status, a body, a Retry-After, or a hang; <paramref name="Delay"/>: answer only
    /// after this long (the call is already recorded).</summary>
    public sealed record Answer(int Status, JsonObject? Body, int? RetryAfterSeconds = null, bool Hang = false, TimeSpan Delay = default);

    /// <summary>Handles one write call (the HTTP layer passes the Authorization header and the body text).</summary>
    public Answer Write(string? authorization, string bodyText)
    {
        lock (_gate)
        {
            var now = Time.GetUtcNow();
            _calls++;
            _firstCallAt ??= now;
            _lastCallAt = now;
            _lastSecond.Enqueue(now);
            while (_lastSecond.Count > 0 && _lastSecond.Peek() <= now - TimeSpan.FromSeconds(1)) _lastSecond.Dequeue();
            _maxPerSecond = Math.Max(_maxPerSecond, _lastSecond.Count);

            var answer = Decide(authorization, bodyText, now);
            if (!answer.Hang) _answers[answer.Status] = _answers.GetValueOrDefault(answer.Status) + 1;
            return answer;
        }
    }

    private Answer Decide(string? authorization, string bodyText, DateTimeOffset now)
    {
        if (_faults.Count > 0)
        {
            var (kind, remaining, retryAfter, status, delay) = _faults[0];
            if (remaining <= 1) _faults.RemoveAt(0);
            else _faults[0] = (kind, remaining - 1, retryAfter, status, delay);
            switch (kind)
            {
                case KarteFaultKind.Slow: return Handle(authorization, bodyText, now) with { Delay = TimeSpan.FromMilliseconds(delay) };
                case KarteFaultKind.TooManyRequests: return new Answer(429, Error("rate limit exceeded"), retryAfter);
                case KarteFaultKind.ServerError: return new Answer(status is >= 500 and <= 599 ? status : 500, Error("internal error"));
                case KarteFaultKind.Hang: return new Answer(0, null, Hang: true);
                case KarteFaultKind.Unauthorized: return new Answer(401, Error("invalid app token"));
            }
        }
        return Handle(authorization, bodyText, now);
    }

    /// <summary>KARTE's own answer to a write call (no fault), recording what it takes.</summary>
    private Answer Handle(string? authorization, string bodyText, DateTimeOffset now)
    {
        // KARTE authenticates before it reads the body: a token check sends a body it cannot record.
        const string bearer = "Bearer ";
        if (authorization is null || !authorization.StartsWith(bearer, StringComparison.Ordinal)
            || authorization[bearer.Length..] != _appToken)
            return new Answer(401, Error("invalid app token"));

        JsonObject? body;
        try
        {
            body = JsonNode.Parse(bodyText) as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            body = null;
        }
        if (body is null) return new Answer(400, Error("body must be a JSON object"));
        if (body["keys"] is not JsonObject keys) return new Answer(400, Error("keys must be one object: one user per call"));
        var userId = keys["user_id"] is JsonValue u && u.TryGetValue<string>(out var uid) ? uid : null;
        var visitorId = keys["visitor_id"] is JsonValue v && v.TryGetValue<string>(out var vid) ? vid : null;
        if ((userId is null) == (visitorId is null)) return new Answer(400, Error("keys must hold user_id or visitor_id, not both"));
        if (userId is not null && (userId.Length == 0 || Encoding.UTF8.GetByteCount(userId) > MaxUserIdBytes))
            return new Answer(400, Error($"user_id must be 1-{MaxUserIdBytes} bytes"));

        var events = new List<JsonObject>();
        if (body["event"] is JsonObject single) events.Add(single);
        if (body["events"] is JsonArray many) events.AddRange(many.OfType<JsonObject>());
        if (events.Count == 0 || (body["event"] is not null && body["events"] is not null))
            return new Answer(400, Error("event or events is required (not both)"));
        foreach (var e in events)
        {
            if (e["event_name"] is not JsonValue n || !n.TryGetValue<string>(out var name) || name.Length == 0)
                return new Answer(400, Error("event_name is required"));
            if (ReservedEventNames.Contains(name)) return new Answer(400, Error($"event_name '{name}' is reserved"));
            if (e["values"] is not null and not JsonObject) return new Answer(400, Error("values must be an object"));
        }
        foreach (var e in events)
        {
            var name = (string)e["event_name"]!;
            var values = (e["values"] as JsonObject)?.DeepClone().AsObject() ?? [];
            var sequence = ++_sequence;
            long? repeatOf = null;
            var content = ContentKey(userId, visitorId, name, values);
            if (_firstOfContent.TryGetValue(content, out var first))
            {
                repeatOf = first;
                _repeats++;
            }
            else
            {
                _firstOfContent[content] = sequence;
            }
            _received.Add(new KarteReceivedEvent(sequence, userId, visitorId, name, values, now, repeatOf));
        }
        return new Answer(200, new JsonObject { ["status"] = "ok" });
    }

    /// <summary>Who, what and the values with object members in name order, so that member order does not tell
    /// two otherwise equal writes apart (what <c>repeatOf</c> compares; tests match outbox rows by it too).</summary>
    public static string ContentKey(string? userId, string? visitorId, string name, JsonObject values) =>
        $"{(userId is null ? "v:" + visitorId : "u:" + userId)}\n{name}\n{Canonical(values)}";

    private static string Canonical(JsonNode? node) => node switch
    {
        JsonObject o => "{" + string.Join(",", o.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => System.Text.Json.JsonSerializer.Serialize(p.Key) + ":" + Canonical(p.Value))) + "}",
        JsonArray a => "[" + string.Join(",", a.Select(Canonical)) + "]",
        null => "null",
        _ => node.ToJsonString(),
    };

    private static JsonObject Error(string message) => new() { ["error"] = new JsonObject { ["message"] = message } };

    /// <summary>The listing served at <c>_karte/received</c>: the last <paramref name="limit"/> events (of
    /// <paramref name="userId"/>), or with <paramref name="after"/> the first <paramref name="limit"/> events after that
    /// sequence (paging through everything in arrival order).</summary>
    public JsonObject ToJson(string? userId = null, int limit = 1000, long? after = null)
    {
        lock (_gate)
        {
            var mine = _received.Where(e => userId is null || e.UserId == userId);
            var take = Math.Clamp(limit, 1, 10_000);
            var events = (after is { } from ? mine.Where(e => e.Sequence > from).Take(take) : mine.TakeLast(take)).ToList();
            return new JsonObject
            {
                ["calls"] = _calls,
                ["maxRequestsPerSecond"] = _maxPerSecond,
                ["firstCallAt"] = _firstCallAt,
                ["lastCallAt"] = _lastCallAt,
                ["events"] = _received.Count,
                ["repeats"] = _repeats,
                ["lastSequence"] = _sequence,
                ["answers"] = new JsonObject([.. _answers.OrderBy(kv => kv.Key).Select(kv => KeyValuePair.Create(kv.Key.ToString(System.Globalization.CultureInfo.InvariantCulture), (JsonNode?)kv.Value))]),
                ["received"] = new JsonArray([.. events.Select(e => (JsonNode)new JsonObject
                {
                    ["sequence"] = e.Sequence,
                    ["userId"] = e.UserId,
                    ["visitorId"] = e.VisitorId,
                    ["eventName"] = e.EventName,
                    ["values"] = e.Values.DeepClone(),
                    ["at"] = e.At,
                    ["repeatOf"] = e.RepeatOf,
                })]),
            };
        }
    }
}
