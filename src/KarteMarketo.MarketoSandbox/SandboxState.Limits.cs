namespace KarteMarketo.MarketoSandbox;

public sealed partial class SandboxState
{
    /// <summary>Marketo codes that do not count against the daily quota or the rate limit (facts §5: the starred codes).</summary>
    internal static readonly HashSet<string> UncountedCodes = ["601", "602", "604", "605", "608", "611"];

    private readonly Dictionary<string, TokenRecord> _tokens = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _currentTokens = new(StringComparer.Ordinal);
    private readonly LinkedList<(long Ticket, DateTimeOffset At)> _window = new();
    private readonly Dictionary<string, int> _usageByClient = new(StringComparer.Ordinal);
    private DateOnly _usageDay;
    private int _inFlight;
    private long _nextTicket;
    private int _dailyQuota;
    private TimeSpan? _tokenExpiryEvery;

    /// <summary>The id under which <see cref="SetUsedToday"/> books calls made by "other integrations".</summary>
    public const string OtherIntegrations = "other-integrations@sandbox.example";

    /// <summary>The daily quota now in force (starts at <see cref="SandboxOptions.DailyQuota"/>).</summary>
    public int DailyQuota
    {
        get { lock (_gate) { return _dailyQuota; } }
        set { lock (_gate) { _dailyQuota = value; } }
    }

    /// <summary>Calls counted today (Central time day), all clients.</summary>
    public int UsedToday
    {
        get
        {
            lock (_gate)
            {
                RollDay(Time.GetUtcNow());
                return _usageByClient.Values.Sum();
            }
        }
    }

    /// <summary>Sets today's count of calls made by other integrations on the instance (adds to our own calls).</summary>
    public void SetUsedToday(int calls)
    {
        lock (_gate)
        {
            RollDay(Time.GetUtcNow());
            _usageByClient[OtherIntegrations] = calls;
        }
    }

    /// <summary>The quota day (in <see cref="SandboxOptions.QuotaTimeZoneId"/>) that <paramref name="at"/> falls in.</summary>
    public DateOnly QuotaDayOf(DateTimeOffset at) => DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(at, _quotaZone).DateTime);

    /// <summary>When the current quota day ends (the next Central midnight, as an instant).</summary>
    public DateTimeOffset NextQuotaReset
    {
        get
        {
            var local = TimeZoneInfo.ConvertTime(Time.GetUtcNow(), _quotaZone);
            var midnight = local.Date.AddDays(1);
            return new DateTimeOffset(midnight, _quotaZone.GetUtcOffset(midnight));
        }
    }

    /// <summary>When set, every token stops working this long after it was issued (602), although the identity
    /// endpoint announced a longer <c>expires_in</c>: forces the client's re-authentication path.</summary>
    public TimeSpan? TokenExpiryEvery
    {
        get { lock (_gate) { return _tokenExpiryEvery; } }
        set { lock (_gate) { _tokenExpiryEvery = value; } }
    }

    /// <summary>Expires every token now: the next REST call with one gets 602.</summary>
    public void ExpireAllTokens()
    {
        lock (_gate)
        {
            var now = Time.GetUtcNow();
            foreach (var key in _tokens.Keys.ToList())
            {
                _tokens[key] = _tokens[key] with { ExpiresAt = now };
            }
        }
    }

    /// <summary>Forgets every token: the next REST call with one gets 601.</summary>
    public void InvalidateAllTokens()
    {
        lock (_gate)
        {
            _tokens.Clear();
            _currentTokens.Clear();
        }
    }

    internal IdentityOutcome IssueToken(string? clientId, string? clientSecret)
    {
        lock (_gate)
        {
            if (clientId is null || !_clients.TryGetValue(clientId, out var secret))
            {
                return IdentityOutcome.Refused("No client with requested id");
            }
            if (!string.Equals(secret, clientSecret, StringComparison.Ordinal))
            {
                return IdentityOutcome.Refused("Bad client credentials");
            }

            var now = Time.GetUtcNow();
            // Marketo hands out the same token while it is valid, with its remaining lifetime (facts §1).
            if (_currentTokens.TryGetValue(clientId, out var current) && _tokens.TryGetValue(current, out var record))
            {
                var remaining = (long)Math.Floor((record.ExpiresAt - now).TotalSeconds);
                if (now < EffectiveExpiry(record) && remaining >= 1)
                {
                    return IdentityOutcome.Issued(current, remaining, clientId);
                }
            }

            var token = $"{Guid.NewGuid()}:sb";
            var lifetime = Options.TokenLifetimeSeconds;
            _tokens[token] = new TokenRecord(clientId, now, now.AddSeconds(lifetime));
            _currentTokens[clientId] = token;
            // A fresh token reports one second less than its lifetime, as Marketo's own example (3599) does.
            return IdentityOutcome.Issued(token, Math.Max(1, lifetime - 1), clientId);
        }
    }

    internal (string? Code, string? ClientId) Authenticate(string? token)
    {
        lock (_gate)
        {
            if (string.IsNullOrEmpty(token) || !_tokens.TryGetValue(token, out var record))
            {
                return ("601", null);
            }
            return Time.GetUtcNow() >= EffectiveExpiry(record) ? ("602", record.ClientId) : (null, record.ClientId);
        }
    }

    /// <summary>Whether Marketo counts a call that ended with <paramref name="code"/> ("success" or a Marketo code).</summary>
    internal static bool IsCounted(string code) => !UncountedCodes.Contains(code) && code != "607";

    internal string ScopeOf(string clientId) => clientId == Options.ClientId ? Options.ApiUserEmail : $"{clientId}@sandbox.example";

    private DateTimeOffset EffectiveExpiry(TokenRecord record) =>
        _tokenExpiryEvery is { } every && record.IssuedAt + every < record.ExpiresAt ? record.IssuedAt + every : record.ExpiresAt;

    internal SandboxFault? TakeFault(string endpoint)
    {
        lock (_gate)
        {
            var now = Time.GetUtcNow();
            _faults.RemoveAll(f => f.Fault.Until is { } until && until <= now || f.Remaining is <= 0);
            foreach (var slot in _faults)
            {
                // A fault without an endpoint hits every REST endpoint; identity is only hit when named.
                if (slot.Fault.Endpoint is { } only ? only != endpoint : endpoint == SandboxEndpointNames.Identity)
                {
                    continue;
                }
                if (slot.Remaining is { } remaining)
                {
                    slot.Remaining = remaining - 1;
                }
                return slot.Fault;
            }
            return null;
        }
    }

    /// <summary>Admits a call under the three limits, or says which one it broke (and records the breach).</summary>
    internal Admission Admit(string endpoint, string clientId)
    {
        var now = Time.GetUtcNow();
        SandboxBreach? breach = null;
        Admission admission;
        lock (_gate)
        {
            RollDay(now);
            var windowStart = now - TimeSpan.FromSeconds(Options.RateLimitWindowSeconds);
            while (_window.First is { } first && first.Value.At <= windowStart)
            {
                _window.RemoveFirst();
            }

            if (_usageByClient.Values.Sum() >= _dailyQuota)
            {
                breach = new SandboxBreach(now, SandboxLimit.DailyQuota, endpoint, "607", clientId);
                admission = Admission.Refused("607", "Daily quota reached", counted: false);
            }
            else if (_window.Count >= Options.RateLimitCalls)
            {
                breach = new SandboxBreach(now, SandboxLimit.RateLimit, endpoint, "606", clientId);
                // Official message, typo included (facts §5).
                admission = Admission.Refused("606",
                    $"Max rate limit '{Options.RateLimitCalls}' exceeded with in '{Options.RateLimitWindowSeconds}' secs", counted: true);
            }
            else if (_inFlight >= Options.MaxConcurrentCalls)
            {
                breach = new SandboxBreach(now, SandboxLimit.Concurrency, endpoint, "615", clientId);
                admission = Admission.Refused("615", "Concurrent access limit reached", counted: true);
            }
            else
            {
                var ticket = ++_nextTicket;
                _window.AddLast((ticket, now));
                _inFlight++;
                admission = Admission.Admitted(ticket, _usageDay) with { ClientId = clientId };
                Counters.ObserveWindow(_window.Count);
            }

            // 606 and 615 are not among the starred codes, so Marketo counts them toward the day (not toward the
            // 20 s window, which we fill with admitted calls only: the docs do not say, and this is the kinder reading).
            if (admission.Counted)
            {
                _usageByClient[clientId] = _usageByClient.GetValueOrDefault(clientId) + 1;
            }
        }

        if (breach is not null)
        {
            Counters.RecordBreach(breach);
        }
        else
        {
            Counters.EnterFlight();
        }
        return admission;
    }

    /// <summary>Ends an admitted call; a call that ended with an uncounted code is taken back out of the day and window.</summary>
    internal void Complete(Admission admission, bool counted)
    {
        if (!admission.IsAdmitted)
        {
            return;
        }
        lock (_gate)
        {
            _inFlight--;
            if (!counted)
            {
                for (var node = _window.First; node is not null; node = node.Next)
                {
                    if (node.Value.Ticket == admission.Ticket)
                    {
                        _window.Remove(node);
                        break;
                    }
                }
                if (admission.Day == _usageDay && admission.ClientId is { } client && _usageByClient.TryGetValue(client, out var used))
                {
                    _usageByClient[client] = Math.Max(0, used - 1);
                }
            }
        }
        Counters.LeaveFlight();
    }

    internal IReadOnlyDictionary<string, int> UsageByClient(out DateOnly day)
    {
        lock (_gate)
        {
            RollDay(Time.GetUtcNow());
            day = _usageDay;
            return new Dictionary<string, int>(_usageByClient);
        }
    }

    private void RollDay(DateTimeOffset now)
    {
        var day = QuotaDayOf(now);
        if (day != _usageDay)
        {
            _usageDay = day;
            _usageByClient.Clear();
        }
    }

    internal sealed record TokenRecord(string ClientId, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt);

    internal sealed record IdentityOutcome(string? Token, long ExpiresIn, string? ClientId, string? Error)
    {
        public static IdentityOutcome Issued(string token, long expiresIn, string clientId) => new(token, expiresIn, clientId, null);
        public static IdentityOutcome Refused(string description) => new(null, 0, null, description);
    }

    internal sealed record Admission(bool IsAdmitted, long Ticket, DateOnly Day, string? Code, string? Message, bool Counted)
    {
        public string? ClientId { get; init; }
        public static Admission Admitted(long ticket, DateOnly day) => new(true, ticket, day, null, null, true);
        public static Admission Refused(string code, string message, bool counted) => new(false, 0, default, code, message, counted);
    }
}
