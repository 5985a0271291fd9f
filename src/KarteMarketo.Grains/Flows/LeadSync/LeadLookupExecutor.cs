using KarteMarketo.Grains.Identity;
using System.Text.Json;
using System.Text.Json.Nodes;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Marketo;
using KarteMarketo.Marketo;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>What one batched lookup did: a result per key, the Marketo attempts it made, and the deferral when it was
/// throttled (then every key is <see cref="SyncResult.Deferred"/>): our quota's refusal or Marketo's 606/615/607.</summary>
public sealed record LookupBatchOutcome(IReadOnlyDictionary<string, LeadLookupResult> Results, int Calls, MarketoOutcome.Deferred? Deferred);

/// <summary>
/// Looks up to 300 keys of one type with one Marketo call (<c>GET leads.json</c> by <c>email</c> or <c>cookies</c>)
/// through the <see cref="IMarketoGateway"/>, and matches the leads back to the keys. Shared by the realtime batcher and
/// the periodic scheduler. A field Marketo does not know (1006) is dropped and the page asked for again without it.
/// </summary>
public sealed partial class LeadLookupExecutor(IMarketoGateway gateway, LeadFieldCatalog catalog, TimeProvider time,
    ILogger<LeadLookupExecutor> logger)
{
    /// <summary>Marketo's limit of values per <c>filterValues</c>.</summary>
    public const int MaxKeysPerCall = MarketoLimits.MaxBatchSize;

    /// <summary>A filter matching more leads than one page (duplicates) is followed for at most this many pages.</summary>
    private const int MaxPages = 4;

    /// <summary>Each 1006 drops one field and asks for the page again; a lookup gives up after this many.</summary>
    private const int MaxUnknownFieldRetries = 3;

    public async Task<LookupBatchOutcome> LookupAsync(string projectId, ProjectSettings settings, LeadKeyType type,
        IReadOnlyList<string> values, MarketoCallPurpose purpose, CancellationToken cancellationToken = default)
    {
        if (values.Count is 0 or > MaxKeysPerCall)
            throw new ArgumentOutOfRangeException(nameof(values), values.Count, $"1 to {MaxKeysPerCall} keys per lookup");

        var instance = settings.Marketo.InstanceId;
        var fields = (await catalog.GetFieldsAsync(projectId, settings, type, cancellationToken)).ToList();
        var calls = 0;
        var leads = new List<JsonObject>();
        string? pageToken = null;
        var unknownFieldRetries = 0;

        for (var page = 0; page < MaxPages;)
        {
            var fieldsForCall = fields.ToArray();
            var token = pageToken;
            var call = await gateway.CallAsync(projectId, settings, purpose,
                (client, connection, ct) => client.GetLeadsByFilterAsync(connection, type.ToMarketoFilterType(), values, fieldsForCall, token, ct),
                cancellationToken);
            calls += call.Attempts;

            switch (call.Outcome)
            {
                case MarketoOutcome.Completed when call.Value is { } found:
                    leads.AddRange(found.Leads);
                    pageToken = found.NextPageToken;
                    if (string.IsNullOrEmpty(pageToken)) page = MaxPages;
                    else page++;
                    break;

                case MarketoOutcome.Failed { Code: "1006" } when unknownFieldRetries < MaxUnknownFieldRetries
                                                                && DropUnknownField(projectId, settings, fields, call.Errors):
                    // Marketo refuses the whole call for one unknown field: the same page again, without it.
                    unknownFieldRetries++;
                    break;

                case MarketoOutcome.Deferred deferred:
                    return Uniform(values, SyncResult.Deferred, Describe(deferred), purpose, calls, deferred, instance);

                default:
                    return Uniform(values, SyncResult.Failed, DescribeFailure(call), purpose, calls, null, instance);
            }
        }

        var warnings = catalog.UnknownFields(settings).Select(f => $"custom field '{f}' is unknown to Marketo (1006) and is not synced").ToList();
        var warning = warnings.Count == 0 ? null : string.Join("; ", warnings);
        return new LookupBatchOutcome(Match(values, type, leads, warning, purpose, instance), calls, null);
    }

    /// <summary>Leaves the field named by a 1006 out of this lookup and, through the catalog, of later ones. False when
    /// the error names no field this lookup asked for (then retrying would change nothing).</summary>
    private bool DropUnknownField(string projectId, ProjectSettings settings, List<string> fields, IReadOnlyList<MarketoError> errors)
    {
        if (errors.FirstOrDefault(e => e.Code == "1006") is not { FieldName: { } unknown }) return false;
        var asked = fields.FindIndex(f => string.Equals(f, unknown, StringComparison.OrdinalIgnoreCase));
        if (asked < 0) return false;
        fields.RemoveAt(asked);
        catalog.MarkUnknown(settings, unknown);
        LogUnknownField(projectId, unknown);
        return true;
    }

    private Dictionary<string, LeadLookupResult> Match(IReadOnlyList<string> values, LeadKeyType type,
        List<JsonObject> leads, string? warning, MarketoCallPurpose purpose, string instance)
    {
        var now = time.GetUtcNow();
        var byKey = new Dictionary<string, JsonObject>(StringComparer.OrdinalIgnoreCase);
        foreach (var lead in leads)
        {
            foreach (var key in KeysOf(lead, type, values, leads.Count))
            {
                // Several leads for one key (duplicates in Marketo): the most recently updated wins.
                if (!byKey.TryGetValue(key, out var current) || IsNewer(lead, current)) byKey[key] = lead;
            }
        }

        var results = new Dictionary<string, LeadLookupResult>(StringComparer.Ordinal);
        foreach (var value in values)
        {
            if (byKey.TryGetValue(value, out var lead) && ReadId(lead) is { } id)
            {
                var copy = (JsonObject)lead.DeepClone();
                // The cookies field is asked for only to match results to keys.
                if (type == LeadKeyType.Cookie) copy.Remove("cookies");
                results[value] = new LeadLookupResult(SyncResult.Synced, id, copy.ToJsonString(), warning, purpose, now, instance);
            }
            else
            {
                results[value] = new LeadLookupResult(SyncResult.NotFound, null, null, warning, purpose, now, instance);
            }
        }
        return results;
    }

    private static IEnumerable<string> KeysOf(JsonObject lead, LeadKeyType type, IReadOnlyList<string> values, int leadCount)
    {
        if (type == LeadKeyType.Email)
        {
            if (lead["email"] is JsonValue e && e.TryGetValue<string>(out var email)) yield return email.Trim().ToLowerInvariant();
            yield break;
        }

        // Marketo answers a cookie lookup with only the token part in "cookies" (possibly several, comma-separated).
        var tokens = lead["cookies"] is JsonValue c && c.TryGetValue<string>(out var cookies)
            ? cookies.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            : [];
        var matched = false;
        foreach (var value in values)
        {
            var token = LeadKeyPolicy.CookieToken(value);
            if (tokens.Any(t => string.Equals(t, token, StringComparison.Ordinal) || string.Equals(t, value, StringComparison.Ordinal)))
            {
                matched = true;
                yield return value;
            }
        }
        // Without a cookies field, a one-key lookup can still only mean that key.
        if (!matched && tokens.Length == 0 && values.Count == 1 && leadCount == 1) yield return values[0];
    }

    private static bool IsNewer(JsonObject candidate, JsonObject current)
    {
        var a = ReadTime(candidate);
        var b = ReadTime(current);
        if (a != b) return a > b;
        return (ReadId(candidate) ?? 0) > (ReadId(current) ?? 0);
    }

    private static DateTimeOffset ReadTime(JsonObject lead) =>
        lead["updatedAt"] is JsonValue v && v.TryGetValue<string>(out var s) && DateTimeOffset.TryParse(s, out var t) ? t : DateTimeOffset.MinValue;

    private static long? ReadId(JsonObject lead) => lead["id"] is JsonValue v && v.GetValueKind() == JsonValueKind.Number
        && v.TryGetValue<long>(out var id) ? id : null;

    private LookupBatchOutcome Uniform(IReadOnlyList<string> values, SyncResult result, string error, MarketoCallPurpose purpose,
        int calls, MarketoOutcome.Deferred? deferred, string instance)
    {
        var now = time.GetUtcNow();
        var results = values.Distinct(StringComparer.Ordinal)
            .ToDictionary(v => v, _ => new LeadLookupResult(result, null, null, error, purpose, now, instance), StringComparer.Ordinal);
        return new LookupBatchOutcome(results, calls, deferred);
    }

    private static string Describe(MarketoOutcome.Deferred deferred) => deferred.Reason switch
    {
        DeferReason.DailyBudget => "no Marketo call permitted (daily budget spent)",
        DeferReason.RateWindow => "no Marketo call permitted (20-second window full)",
        DeferReason.Concurrency => "no Marketo call permitted (too many calls in flight)",
        DeferReason.QuotaExhausted => "no Marketo call permitted (Marketo's daily quota reached (607))",
        DeferReason.BackingOff => "no Marketo call permitted (backing off after 606/615)",
        _ => $"Marketo lookup failed: {deferred.Error.Code} {deferred.Error.Message}",
    };

    private static string DescribeFailure<T>(MarketoCall<T> call)
    {
        var errors = call.Errors.Count == 0 ? call.Outcome.GetType().Name
            : string.Join("; ", call.Errors.Select(e => $"{e.Code} {e.Message}"));
        return $"Marketo lookup failed: {errors}";
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project {ProjectId}: Marketo does not know field {Field} (1006); it is left out of lookups")]
    private partial void LogUnknownField(string projectId, string field);
}
