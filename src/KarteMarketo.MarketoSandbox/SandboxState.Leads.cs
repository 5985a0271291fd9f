using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace KarteMarketo.MarketoSandbox;

public sealed partial class SandboxState
{
    // A _mkto_trk value: "id:<munchkin id>&token:_mch-<domain>-<timestamp>-<random>" or the hex form (facts §6).
    [GeneratedRegex("^id:[0-9A-Za-z]{3}-[0-9A-Za-z]{3}-[0-9A-Za-z]{3}&token:_mch-[A-Za-z0-9.\\-]+$")]
    private static partial Regex CookiePattern();

    internal static bool IsValidCookie(string cookie) => CookiePattern().IsMatch(cookie);

    internal OpResult Lookup(string? filterType, string? filterValues, string? fields, string? batchSize, string? nextPageToken)
    {
        if (string.IsNullOrWhiteSpace(filterType))
        {
            return OpResult.Fail("701", "filterType cannot be blank");
        }
        if (string.IsNullOrWhiteSpace(filterValues))
        {
            return OpResult.Fail("701", "filterValues cannot be blank");
        }

        var values = filterValues.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (values.Length > Options.MaxBatchSize)
        {
            // The docs allow "up to 300" values and list 1003 "Invalid data" / "Too many results match the filter" for an
            // over-large filter (error-codes.md, leads.md); the sandbox answers 1003 at response level.
            return OpResult.Fail("1003", $"Too many values in filterValues: {values.Length}, at most {Options.MaxBatchSize} allowed");
        }

        var size = Options.MaxBatchSize;
        if (batchSize is not null && (!int.TryParse(batchSize, CultureInfo.InvariantCulture, out size) || size < 1 || size > Options.MaxBatchSize))
        {
            return OpResult.Fail("1003", $"Invalid batchSize '{batchSize}'");
        }

        var offset = 0;
        if (!string.IsNullOrEmpty(nextPageToken) && !TryReadPageToken(nextPageToken, out offset))
        {
            return OpResult.Fail("1003", $"Invalid nextPageToken '{nextPageToken}'");
        }

        lock (_gate)
        {
            if (!_fields.TryGetValue(filterType, out var filterField))
            {
                return OpResult.Fail("1006", $"Field '{filterType}' not found");
            }
            var searchable = SandboxFieldCatalog.SearchableStandardFields.Contains(filterField.Name) ||
                             (!SandboxFieldCatalog.StandardFields.Any(f => f.Name.Equals(filterField.Name, StringComparison.OrdinalIgnoreCase)) &&
                              SandboxFieldCatalog.IsSearchableCustomType(filterField.DataType));
            if (!searchable)
            {
                return OpResult.Fail("1011", $"Field '{filterField.Name}' not supported");
            }

            // Unknown field in `fields`: the facts leave open whether Marketo drops it or fails the call (open question 1).
            // The sandbox fails the whole call with 1006 "Field 'x' not found" (success:false): the stricter reading, so a
            // client that survives the sandbox survives either behaviour.
            var requested = fields is null
                ? SandboxFieldCatalog.DefaultLookupFields
                : fields.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            var outputFields = new List<string>();
            foreach (var name in requested)
            {
                if (_failingFields.Contains(name) || !_fields.TryGetValue(name, out var field))
                {
                    return OpResult.Fail("1006", $"Field '{name}' not found");
                }
                if (!outputFields.Contains(field.Name))
                {
                    outputFields.Add(field.Name);
                }
            }

            if (filterField.Name == "cookies" && values.FirstOrDefault(v => !IsValidCookie(v)) is { } badCookie)
            {
                return OpResult.Fail("1012", $"Invalid cookie value '{badCookie}'");
            }

            var matches = _leads.Values.Where(lead => values.Any(value => Matches(lead, filterField, value))).OrderBy(l => l.Id).ToList();
            if (matches.Count > Options.MaxFilterMatches)
            {
                return OpResult.Fail("1003", "Too many results match the filter");
            }

            var page = matches.Skip(offset).Take(size).ToList();
            var result = new JsonArray();
            foreach (var lead in page)
            {
                result.Add(Render(lead, outputFields));
            }
            var next = offset + page.Count < matches.Count ? WritePageToken(offset + page.Count) : null;
            return OpResult.Ok(result, next);
        }
    }

    internal OpResult GetLeadById(string leadId, string? fields)
        => Lookup("id", leadId, fields, null, null);

    internal OpResult Sync(JsonNode? body)
    {
        if (body is not JsonObject request)
        {
            return OpResult.Fail("609", "Invalid JSON");
        }
        var action = ReadString(request["action"]) ?? "createOrUpdate";
        if (action is not ("createOrUpdate" or "createOnly" or "updateOnly" or "createDuplicate"))
        {
            return OpResult.Fail("1003", $"Invalid action '{action}'");
        }
        var lookupFieldName = ReadString(request["lookupField"]) ?? "email";
        if (request["input"] is not JsonArray input || input.Count == 0)
        {
            return OpResult.Fail("701", "input cannot be blank");
        }
        if (input.Count > Options.MaxBatchSize)
        {
            return OpResult.Fail("1003", $"Too many records in input: {input.Count}, at most {Options.MaxBatchSize} allowed");
        }

        var now = Time.GetUtcNow();
        lock (_gate)
        {
            if (!_fields.TryGetValue(lookupFieldName, out var lookupField))
            {
                return OpResult.Fail("1006", $"Field '{lookupFieldName}' not found");
            }

            var result = new JsonArray();
            foreach (var item in input)
            {
                var record = item as JsonObject ?? new JsonObject();
                var (entry, leadId, reason) = SyncOne(action, lookupField, record, now);
                result.Add(entry);
                Counters.RecordLeadSync(new SandboxLeadSync(action, lookupField.Name, leadId, entry["status"]!.GetValue<string>(), reason,
                    (JsonObject)record.DeepClone()));
            }
            return OpResult.Ok(result, null);
        }
    }

    private (JsonObject Entry, long? LeadId, string? Reason) SyncOne(string action, SandboxFieldDefinition lookupField, JsonObject record,
        DateTimeOffset now)
    {
        static (JsonObject, long?, string?) Skip(string code, string message) => (new JsonObject
        {
            ["status"] = "skipped",
            ["reasons"] = new JsonArray(new JsonObject { ["code"] = code, ["message"] = message }),
        }, null, code);

        if (record.ContainsKey("id") && action != "updateOnly")
        {
            return Skip("1003", "Field 'id' is only allowed with action updateOnly");
        }

        var values = new Dictionary<string, JsonNode?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in record)
        {
            if (!_fields.TryGetValue(name, out var field))
            {
                return Skip("1006", $"Field '{name}' not found");
            }
            if (!SandboxFieldCatalog.TryNormalize(field, value, out var normalized))
            {
                // Real Marketo answers a type mismatch with 1003, not 1001 (recorded traffic, facts §3).
                var shown = value is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : value?.ToJsonString();
                return Skip("1003", $"Invalid value for field '{field.Name}' and value '{shown}'");
            }
            if (!field.ReadOnly)
            {
                values[field.Name] = normalized;
            }
        }

        List<LeadRecord> matches = [];
        if (action != "createDuplicate")
        {
            if (!record.TryGetPropertyValue(lookupField.Name, out var lookupValue) || lookupValue is null ||
                string.IsNullOrEmpty(lookupValue.ToString()))
            {
                return Skip("1003", $"Value for lookup field '{lookupField.Name}' is required");
            }
            SandboxFieldCatalog.TryNormalize(lookupField, lookupValue, out var normalizedLookup);
            var text = normalizedLookup?.ToString() ?? lookupValue.ToString();
            matches = [.. _leads.Values.Where(l => Matches(l, lookupField, text))];
            if (matches.Count > 1)
            {
                return Skip("1007", "Multiple lead match lookup criteria");
            }
        }

        var existing = matches.FirstOrDefault();
        switch (action)
        {
            case "createOnly" when existing is not null:
                return Skip("1005", "Lead already exists");
            case "updateOnly" when existing is null:
                return Skip("1004", "Lead not found");
        }

        var status = existing is null ? "created" : "updated";
        var lead = existing ?? new LeadRecord(_nextLeadId++, now);
        foreach (var (name, value) in values)
        {
            lead.Fields[name] = value?.DeepClone();
        }
        lead.UpdatedAt = now;
        if (existing is null)
        {
            _leads.Add(lead.Id, lead);
        }
        return (new JsonObject { ["id"] = lead.Id, ["status"] = status }, lead.Id, null);
    }

    internal OpResult Associate(string leadIdText, string? cookie)
    {
        if (string.IsNullOrEmpty(cookie))
        {
            return OpResult.Fail("701", "cookie cannot be blank");
        }
        if (!IsValidCookie(cookie))
        {
            return OpResult.Fail("1012", $"Invalid cookie value '{cookie}'");
        }
        var now = Time.GetUtcNow();
        lock (_gate)
        {
            if (!long.TryParse(leadIdText, CultureInfo.InvariantCulture, out var leadId) || !_leads.TryGetValue(leadId, out var lead))
            {
                return OpResult.Fail("1004", "Lead not found");
            }
            AttachCookie(lead, cookie, now);
            Counters.RecordAssociation(new SandboxAssociation(leadId, cookie, now));
            return OpResult.Ok(null, null);
        }
    }

    internal OpResult AddActivities(JsonNode? body)
    {
        if (body is not JsonObject request)
        {
            return OpResult.Fail("609", "Invalid JSON");
        }
        if (request["input"] is not JsonArray input || input.Count == 0)
        {
            return OpResult.Fail("701", "input cannot be blank");
        }
        if (input.Count > Options.MaxBatchSize)
        {
            return OpResult.Fail("1003", $"Too many records in input: {input.Count}, at most {Options.MaxBatchSize} allowed");
        }

        lock (_gate)
        {
            var result = new JsonArray();
            foreach (var item in input)
            {
                result.Add(AddActivity(item as JsonObject ?? new JsonObject()));
            }
            return OpResult.Ok(result, null);
        }
    }

    private JsonObject AddActivity(JsonObject record)
    {
        // Custom-activity failures carry `errors`, not `reasons` (facts §4).
        static JsonObject Skip(string code, string message) => new()
        {
            ["status"] = "skipped",
            ["errors"] = new JsonArray(new JsonObject { ["code"] = code, ["message"] = message }),
        };

        if (!TryReadLong(record["leadId"], out var leadId))
        {
            return Skip("1003", "Invalid value for field 'leadId'");
        }
        if (!_leads.ContainsKey(leadId))
        {
            return Skip("1004", "Lead not found");
        }
        if (!TryReadLong(record["activityTypeId"], out var typeId) || !_activityTypes.TryGetValue((int)typeId, out var type))
        {
            return Skip("1013", $"Activity type '{record["activityTypeId"]?.ToJsonString()}' not found");
        }
        if (ReadString(record["activityDate"]) is not { } dateText ||
            !DateTimeOffset.TryParse(dateText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var activityDate))
        {
            return Skip("1003", "Invalid value for field 'activityDate'");
        }
        if (record["primaryAttributeValue"] is not JsonValue primaryNode || string.IsNullOrEmpty(primaryNode.ToString()))
        {
            return Skip("1002", "Missing value for required field 'primaryAttributeValue'");
        }

        var attributes = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        if (record["attributes"] is JsonArray attributeArray)
        {
            foreach (var attribute in attributeArray.OfType<JsonObject>())
            {
                var name = ReadString(attribute["apiName"]) ?? ReadString(attribute["name"]);
                if (name is null || !type.Attributes.Contains(name, StringComparer.OrdinalIgnoreCase))
                {
                    return Skip("1006", $"Field '{name}' not found");
                }
                attributes[name] = attribute["value"]?.DeepClone();
            }
        }
        else if (record["attributes"] is not null)
        {
            return Skip("1003", "Invalid value for field 'attributes'");
        }

        var id = _nextActivityId++;
        var guid = id.ToString(CultureInfo.InvariantCulture);
        Counters.RecordActivity(new SandboxActivity(id, guid, leadId, type.Id, activityDate, primaryNode.ToString(), attributes));
        return new JsonObject { ["id"] = id, ["marketoGUID"] = guid, ["status"] = "added" };
    }

    internal OpResult Describe()
    {
        lock (_gate)
        {
            var result = new JsonArray();
            var index = 1;
            foreach (var field in _fields.Values)
            {
                var entry = new JsonObject
                {
                    ["id"] = index++,
                    ["displayName"] = field.DisplayName ?? ToDisplayName(field.Name),
                    ["dataType"] = field.DataType,
                };
                if (field.Length is { } length)
                {
                    entry["length"] = length;
                }
                entry["rest"] = new JsonObject { ["name"] = field.Name, ["readOnly"] = field.ReadOnly };
                entry["soap"] = new JsonObject { ["name"] = char.ToUpperInvariant(field.Name[0]) + field.Name[1..], ["readOnly"] = field.ReadOnly };
                result.Add(entry);
            }
            return OpResult.Ok(result, null);
        }
    }

    internal OpResult ActivityTypes()
    {
        lock (_gate)
        {
            var result = new JsonArray();
            foreach (var type in _activityTypes.Values.OrderBy(t => t.Id))
            {
                result.Add(new JsonObject
                {
                    ["id"] = type.Id,
                    ["apiName"] = type.ApiName,
                    ["name"] = type.Name,
                    ["description"] = type.Name,
                    ["triggerName"] = type.Name,
                    ["filterName"] = type.Name,
                    ["primaryAttribute"] = new JsonObject { ["apiName"] = type.PrimaryAttribute, ["name"] = type.PrimaryAttribute, ["dataType"] = "string" },
                    ["attributes"] = new JsonArray([.. type.Attributes.Select(a => (JsonNode)new JsonObject
                    {
                        ["apiName"] = a, ["name"] = a, ["dataType"] = "string",
                    })]),
                    ["status"] = "approved",
                });
            }
            return OpResult.Ok(result, null);
        }
    }

    internal OpResult Usage()
    {
        var byClient = UsageByClient(out var day);
        var users = new JsonArray();
        foreach (var (client, count) in byClient.Where(kv => kv.Value > 0).OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            users.Add(new JsonObject { ["userId"] = client == OtherIntegrations ? client : ScopeOf(client), ["count"] = count });
        }
        var result = new JsonArray(new JsonObject
        {
            ["date"] = day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            ["total"] = byClient.Values.Sum(),
            ["users"] = users,
        });
        return OpResult.Ok(result, null);
    }

    private void AttachCookie(LeadRecord lead, string cookie, DateTimeOffset now)
    {
        foreach (var other in _leads.Values)
        {
            other.Cookies.Remove(cookie);
        }
        lead.Cookies.Add(cookie);
        lead.UpdatedAt = now;
    }

    private static bool Matches(LeadRecord lead, SandboxFieldDefinition field, string value)
    {
        switch (field.Name)
        {
            case "id":
                return long.TryParse(value, CultureInfo.InvariantCulture, out var id) && lead.Id == id;
            case "cookies":
                return lead.Cookies.Contains(value, StringComparer.Ordinal);
            default:
                return lead.Fields.TryGetValue(field.Name, out var node) && node is not null &&
                       string.Equals(node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : node.ToJsonString(),
                           value, StringComparison.OrdinalIgnoreCase);
        }
    }

    private static JsonObject Render(LeadRecord lead, IReadOnlyList<string> fields)
    {
        // Marketo always returns the id, and an explicit null for a requested field without a value (facts §2).
        var output = new JsonObject { ["id"] = lead.Id };
        foreach (var name in fields)
        {
            output[name] = name switch
            {
                "id" => lead.Id,
                "createdAt" => lead.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
                "updatedAt" => lead.UpdatedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
                // With fields=cookies Marketo returns only the token part of the cookie (facts §2).
                "cookies" => lead.Cookies.Count == 0 ? null : string.Join(',', lead.Cookies.Select(c => c[(c.IndexOf("&token:", StringComparison.Ordinal) + 7)..])),
                _ => lead.Fields.TryGetValue(name, out var value) ? value?.DeepClone() : null,
            };
        }
        return output;
    }

    private static string ToDisplayName(string restName)
    {
        var builder = new StringBuilder();
        foreach (var c in restName)
        {
            if (char.IsUpper(c) && builder.Length > 0)
            {
                builder.Append(' ');
            }
            builder.Append(builder.Length == 0 ? char.ToUpperInvariant(c) : c);
        }
        return builder.ToString();
    }

    private static string? ReadString(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : null;

    private static bool TryReadLong(JsonNode? node, out long value)
    {
        value = 0;
        return node is JsonValue v && (v.GetValueKind() == JsonValueKind.Number ? v.TryGetValue(out value) :
            v.GetValueKind() == JsonValueKind.String && long.TryParse(v.GetValue<string>(), CultureInfo.InvariantCulture, out value));
    }

    private static string WritePageToken(int offset) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"sandbox-page:{offset}")).TrimEnd('=');

    private static bool TryReadPageToken(string token, out int offset)
    {
        offset = 0;
        try
        {
            var padded = token.PadRight(token.Length + (4 - token.Length % 4) % 4, '=');
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(padded));
            return text.StartsWith("sandbox-page:", StringComparison.Ordinal) &&
                   int.TryParse(text["sandbox-page:".Length..], CultureInfo.InvariantCulture, out offset) && offset >= 0;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}

/// <summary>What a Marketo operation produced: a result (and paging token), or a response-level error.</summary>
internal sealed record OpResult(JsonArray? Result, string? NextPageToken, string? ErrorCode, string? ErrorMessage)
{
    public bool Success => ErrorCode is null;
    public static OpResult Ok(JsonArray? result, string? nextPageToken) => new(result, nextPageToken, null, null);
    public static OpResult Fail(string code, string message) => new(null, null, code, message);
}
