using System.Text.Json.Nodes;

namespace KarteMarketo.MarketoSandbox;

/// <summary>
/// What the sandbox saw, for assertions: every call with its outcome code, the peak rate and concurrency, every
/// breach of a limit, and what was written (activities, synced leads, associations). Thread-safe; every getter
/// returns a snapshot.
/// </summary>
public sealed class SandboxCounters
{
    private readonly Lock _gate = new();
    private readonly List<SandboxCall> _calls = [];
    private readonly List<SandboxBreach> _breaches = [];
    private readonly List<SandboxActivity> _activities = [];
    private readonly List<SandboxLeadSync> _leadsSynced = [];
    private readonly List<SandboxAssociation> _associations = [];
    private readonly List<(int Count, TaskCompletionSource Signal)> _inFlightWaiters = [];
    private int _maxInWindow;
    private int _maxInFlight;
    private int _inFlight;
    private int _lookupCalls;
    private int _lookupValues;
    // Keys per lookup call, the last 1,000 calls: shows how full batches were (a short one costs a call more).
    private readonly Queue<int> _lookupSizes = new();

    /// <summary>Every call answered (REST and identity), oldest first.</summary>
    public IReadOnlyList<SandboxCall> Calls { get { lock (_gate) { return [.. _calls]; } } }

    /// <summary>Calls to <paramref name="endpoint"/> (see <see cref="SandboxEndpointNames"/>), optionally only those that
    /// ended with <paramref name="code"/> (e.g. "success", "601", "606", "http:502").</summary>
    public int CallsTo(string endpoint, string? code = null)
    {
        lock (_gate)
        {
            return _calls.Count(c => c.Endpoint == endpoint && (code is null || c.Code == code));
        }
    }

    /// <summary>Calls by endpoint, then by outcome code.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, int>> CallsByEndpointAndCode
    {
        get
        {
            lock (_gate)
            {
                return _calls.GroupBy(c => c.Endpoint).ToDictionary(g => g.Key,
                    g => (IReadOnlyDictionary<string, int>)g.GroupBy(c => c.Code).ToDictionary(c => c.Key, c => c.Count()));
            }
        }
    }

    /// <summary>REST calls Marketo would count against the daily quota.</summary>
    public int CountedCalls { get { lock (_gate) { return _calls.Count(c => c.Counted); } } }

    /// <summary>Lead lookups admitted (Get Leads by filter and Get Lead by id).</summary>
    public int LookupCalls { get { lock (_gate) { return _lookupCalls; } } }

    /// <summary>Filter values asked for across all lookups admitted.</summary>
    public int LookupValues { get { lock (_gate) { return _lookupValues; } } }

    /// <summary>The most calls admitted in any sliding rate window.</summary>
    public int MaxCallsInWindow { get { lock (_gate) { return _maxInWindow; } } }

    /// <summary>The most calls in flight at once.</summary>
    public int MaxInFlight { get { lock (_gate) { return _maxInFlight; } } }

    /// <summary>Calls in flight now.</summary>
    public int InFlight { get { lock (_gate) { return _inFlight; } } }

    /// <summary>Every call refused with 606, 615 or 607 because a real limit was broken (not injected faults).</summary>
    public IReadOnlyList<SandboxBreach> Breaches { get { lock (_gate) { return [.. _breaches]; } } }

    /// <summary>Custom activities stored, in order.</summary>
    public IReadOnlyList<SandboxActivity> ActivitiesAdded { get { lock (_gate) { return [.. _activities]; } } }

    /// <summary>Sync Leads records, in order, with their outcome.</summary>
    public IReadOnlyList<SandboxLeadSync> LeadsSynced { get { lock (_gate) { return [.. _leadsSynced]; } } }

    /// <summary>Successful Associate Lead calls.</summary>
    public IReadOnlyList<SandboxAssociation> Associations { get { lock (_gate) { return [.. _associations]; } } }

    /// <summary>Completes once at least <paramref name="count"/> calls are in flight at the same time
    /// (e.g. held by a <see cref="SandboxFaultKind.Latency"/> fault on a FakeTimeProvider). No polling, no sleeps.</summary>
    public Task WaitForInFlightAsync(int count, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_inFlight >= count)
            {
                return Task.CompletedTask;
            }
            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _inFlightWaiters.Add((count, signal));
            return signal.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>A JSON summary (served at <c>GET /_sandbox/counters</c>).</summary>
    public JsonObject ToJson()
    {
        lock (_gate)
        {
            var byEndpoint = new JsonObject();
            foreach (var group in _calls.GroupBy(c => c.Endpoint))
            {
                var codes = new JsonObject();
                foreach (var code in group.GroupBy(c => c.Code))
                {
                    codes[code.Key] = code.Count();
                }
                byEndpoint[group.Key] = codes;
            }
            return new JsonObject
            {
                ["calls"] = _calls.Count,
                ["countedCalls"] = _calls.Count(c => c.Counted),
                ["callsByEndpointAndCode"] = byEndpoint,
                ["lookupCalls"] = _lookupCalls,
                ["lookupValues"] = _lookupValues,
                ["lookupSizes"] = new JsonArray([.. _lookupSizes.Select(n => (JsonNode)n)]),
                ["maxCallsInWindow"] = _maxInWindow,
                ["maxInFlight"] = _maxInFlight,
                ["inFlight"] = _inFlight,
                ["breaches"] = new JsonArray([.. _breaches.Select(b => (JsonNode)new JsonObject
                {
                    ["at"] = b.At, ["limit"] = b.Limit.ToString(), ["endpoint"] = b.Endpoint, ["code"] = b.Code, ["clientId"] = b.ClientId,
                })]),
                ["activitiesAdded"] = new JsonArray([.. _activities.Select(a => (JsonNode)new JsonObject
                {
                    ["id"] = a.Id, ["marketoGUID"] = a.MarketoGuid, ["leadId"] = a.LeadId, ["activityTypeId"] = a.ActivityTypeId,
                    ["activityDate"] = a.ActivityDate, ["primaryAttributeValue"] = a.PrimaryAttributeValue,
                    ["attributes"] = new JsonObject([.. a.Attributes.Select(kv => KeyValuePair.Create(kv.Key, kv.Value?.DeepClone()))]),
                })]),
                ["leadsSynced"] = new JsonArray([.. _leadsSynced.Select(s => (JsonNode)new JsonObject
                {
                    ["action"] = s.Action, ["lookupField"] = s.LookupField, ["leadId"] = s.LeadId, ["status"] = s.Status,
                    ["reasonCode"] = s.ReasonCode, ["input"] = s.Input.DeepClone(),
                })]),
                ["associations"] = new JsonArray([.. _associations.Select(a => (JsonNode)new JsonObject
                {
                    ["leadId"] = a.LeadId, ["cookie"] = a.Cookie, ["at"] = a.At,
                })]),
            };
        }
    }

    internal void RecordCall(SandboxCall call)
    {
        lock (_gate)
        {
            _calls.Add(call);
        }
    }

    internal void RecordBreach(SandboxBreach breach)
    {
        lock (_gate)
        {
            _breaches.Add(breach);
        }
    }

    internal void RecordLookup(int values)
    {
        lock (_gate)
        {
            _lookupCalls++;
            _lookupValues += values;
            if (_lookupSizes.Count == 1_000) _lookupSizes.Dequeue();
            _lookupSizes.Enqueue(values);
        }
    }

    internal void RecordActivity(SandboxActivity activity) { lock (_gate) { _activities.Add(activity); } }

    internal void RecordLeadSync(SandboxLeadSync sync) { lock (_gate) { _leadsSynced.Add(sync); } }

    internal void RecordAssociation(SandboxAssociation association) { lock (_gate) { _associations.Add(association); } }

    internal void ObserveWindow(int callsInWindow)
    {
        lock (_gate)
        {
            _maxInWindow = Math.Max(_maxInWindow, callsInWindow);
        }
    }

    internal void EnterFlight()
    {
        List<TaskCompletionSource> ready = [];
        lock (_gate)
        {
            _inFlight++;
            _maxInFlight = Math.Max(_maxInFlight, _inFlight);
            for (var i = _inFlightWaiters.Count - 1; i >= 0; i--)
            {
                if (_inFlightWaiters[i].Count <= _inFlight)
                {
                    ready.Add(_inFlightWaiters[i].Signal);
                    _inFlightWaiters.RemoveAt(i);
                }
            }
        }
        foreach (var signal in ready)
        {
            signal.TrySetResult();
        }
    }

    internal void LeaveFlight()
    {
        lock (_gate)
        {
            _inFlight--;
        }
    }

    internal void Reset()
    {
        lock (_gate)
        {
            _calls.Clear();
            _breaches.Clear();
            _activities.Clear();
            _leadsSynced.Clear();
            _associations.Clear();
            _maxInWindow = 0;
            _maxInFlight = _inFlight;
            _lookupCalls = 0;
            _lookupValues = 0;
            _lookupSizes.Clear();
        }
    }
}
