namespace KarteMarketo.MarketoSandbox;

/// <summary>
/// How the sandbox behaves. Defaults are Marketo's documented limits (see <c>shared/marketo-facts.md</c> §5);
/// tests shrink them (e.g. <see cref="RateLimitCalls"/> = 3) to trip a limit with few calls.
/// Bound from the <c>Sandbox</c> configuration section by the runnable host.
/// </summary>
public sealed class SandboxOptions
{
    /// <summary>The client id of the custom service the sandbox accepts (more can be added with <see cref="SandboxState.AddClient"/>).</summary>
    public string ClientId { get; set; } = "sandbox-client";

    /// <summary>The matching client secret.</summary>
    public string ClientSecret { get; set; } = "sandbox-secret";

    /// <summary>The API-only user that owns the service; returned as <c>scope</c> and in usage stats.</summary>
    public string ApiUserEmail { get; set; } = "api-user@sandbox.example";

    /// <summary>Lifetime of a new token (Marketo: 3600 s). <c>expires_in</c> reports the remaining part.</summary>
    public int TokenLifetimeSeconds { get; set; } = 3600;

    /// <summary>Calls per day, reset at midnight <see cref="QuotaTimeZoneId"/> (Marketo: 50,000 on most subscriptions).</summary>
    public int DailyQuota { get; set; } = 50_000;

    /// <summary>Calls allowed in any sliding <see cref="RateLimitWindowSeconds"/> window (Marketo: 100 per 20 s) before 606.</summary>
    public int RateLimitCalls { get; set; } = 100;

    /// <summary>The rate window length in seconds (Marketo: 20).</summary>
    public int RateLimitWindowSeconds { get; set; } = 20;

    /// <summary>Calls allowed in flight at once (Marketo: 10); one more gets 615.</summary>
    public int MaxConcurrentCalls { get; set; } = 10;

    /// <summary>The time zone whose midnight resets the daily quota. The docs say "12:00 AM CST"; we read that as
    /// US Central civil time including daylight saving (an open question in the facts sheet).</summary>
    public string QuotaTimeZoneId { get; set; } = "America/Chicago";

    /// <summary>Longest request URI (path + query) in bytes before HTTP 414 (Marketo: 8 KB).</summary>
    public int MaxUriBytes { get; set; } = 8 * 1024;

    /// <summary>Most values in one <c>filterValues</c>, records in one sync, activities in one add (Marketo: 300).</summary>
    public int MaxBatchSize { get; set; } = 300;

    /// <summary>Most leads a filter may match before 1003 "Too many results match the filter" (Marketo: 1,000).</summary>
    public int MaxFilterMatches { get; set; } = 1_000;

    /// <summary>Marketo is removing the <c>access_token</c> parameter; the sandbox refuses it (601) unless this is set.</summary>
    public bool AcceptAccessTokenParameter { get; set; }

    /// <summary>Custom lead fields in addition to the standard ones (REST name and Marketo data type).</summary>
    public List<SandboxFieldDefinition> CustomFields { get; set; } = [];

    /// <summary>Approved custom activity types available from the start.</summary>
    public List<SandboxActivityTypeDefinition> ActivityTypes { get; set; } = [];
}

/// <summary>A lead field: REST name, Marketo data type (<c>string, email, integer, float, boolean, datetime, date,
/// text, phone, url, currency, percent, reference</c>), whether it is read-only, and the maximum length for strings.</summary>
public sealed class SandboxFieldDefinition
{
    public string Name { get; set; } = "";
    public string DataType { get; set; } = "string";
    public bool ReadOnly { get; set; }
    public int? Length { get; set; }
    public string? DisplayName { get; set; }

    public SandboxFieldDefinition() { }

    public SandboxFieldDefinition(string name, string dataType, bool readOnly = false, int? length = null)
    {
        Name = name;
        DataType = dataType;
        ReadOnly = readOnly;
        Length = length;
    }
}

/// <summary>An approved custom activity type. <see cref="Id"/> 0 means "assign the next id" (100001, 100002, …).</summary>
public sealed class SandboxActivityTypeDefinition
{
    public int Id { get; set; }
    public string ApiName { get; set; } = "";
    public string Name { get; set; } = "";
    /// <summary>The primary attribute's apiName (its value comes in <c>primaryAttributeValue</c>).</summary>
    public string PrimaryAttribute { get; set; } = "";
    /// <summary>Secondary attributes' apiNames (at most 20 in Marketo).</summary>
    public List<string> Attributes { get; set; } = [];
}
