using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace KarteMarketo.MarketoSandbox;

/// <summary>Standard lead fields (REST names and types as in a real describe.json, facts §3) and value checks.</summary>
internal static class SandboxFieldCatalog
{
    public static IReadOnlyList<SandboxFieldDefinition> StandardFields { get; } =
    [
        new("id", "integer", readOnly: true),
        new("email", "email", length: 255),
        new("firstName", "string", length: 255),
        new("lastName", "string", length: 255),
        new("middleName", "string", length: 255),
        new("salutation", "string", length: 255),
        new("company", "string", length: 255),
        new("title", "string", length: 255),
        new("department", "string", length: 255),
        new("phone", "phone", length: 255),
        new("mobilePhone", "phone", length: 255),
        new("mainPhone", "phone", length: 255),
        new("fax", "phone", length: 255),
        new("address", "text"),
        new("city", "string", length: 255),
        new("state", "string", length: 255),
        new("country", "string", length: 255),
        new("postalCode", "string", length: 255),
        new("website", "url", length: 255),
        new("industry", "string", length: 255),
        new("leadSource", "string", length: 255),
        new("leadStatus", "string", length: 255),
        new("leadRole", "string", length: 255),
        new("rating", "string", length: 255),
        new("leadScore", "integer"),
        new("annualRevenue", "currency"),
        new("numberOfEmployees", "integer"),
        new("dateOfBirth", "date"),
        new("unsubscribed", "boolean"),
        new("unsubscribedReason", "text"),
        new("doNotCall", "boolean"),
        new("doNotCallReason", "string", length: 512),
        new("emailInvalid", "boolean"),
        new("emailInvalidCause", "string", length: 255),
        new("anonymousIP", "string", length: 255),
        new("inferredCompany", "string", readOnly: true, length: 255),
        new("inferredCountry", "string", readOnly: true, length: 255),
        new("inferredCity", "string", readOnly: true, length: 255),
        new("isAnonymous", "boolean", readOnly: true),
        new("priority", "integer", readOnly: true),
        new("relativeScore", "integer", readOnly: true),
        new("urgency", "float", readOnly: true),
        new("cookies", "string", readOnly: true, length: 255),
        new("mktoName", "string", readOnly: true, length: 255),
        new("mktoIsPartner", "boolean", readOnly: true),
        new("mktoIsCustomer", "boolean", readOnly: true),
        new("leadPartitionId", "reference", readOnly: true),
        new("facebookId", "string", length: 255),
        new("linkedInId", "string", length: 255),
        new("twitterId", "string", length: 255),
        new("sfdcLeadId", "string", readOnly: true, length: 18),
        new("sfdcContactId", "string", readOnly: true, length: 18),
        new("sfdcAccountId", "string", readOnly: true, length: 18),
        new("sfdcLeadOwnerId", "string", readOnly: true, length: 18),
        new("sfdcOpptyId", "string", readOnly: true, length: 18),
        new("createdAt", "datetime", readOnly: true),
        new("updatedAt", "datetime", readOnly: true),
    ];

    /// <summary>Standard fields usable as <c>filterType</c> (the spec's list); custom string/email/integer fields also are.</summary>
    public static readonly HashSet<string> SearchableStandardFields = new(StringComparer.OrdinalIgnoreCase)
    {
        "cookies", "email", "facebookId", "id", "leadPartitionId", "linkedInId", "sfdcAccountId", "sfdcContactId",
        "sfdcLeadId", "sfdcLeadOwnerId", "sfdcOpptyId", "twitterId",
    };

    /// <summary>The fields Get Leads returns when <c>fields</c> is absent (facts §2).</summary>
    public static readonly string[] DefaultLookupFields = ["id", "email", "updatedAt", "createdAt", "firstName", "lastName"];

    public static bool IsSearchableCustomType(string dataType) => dataType is "string" or "email" or "integer";

    /// <summary>Checks a value against a field type; returns the value as stored, or false for a type mismatch (1003).</summary>
    public static bool TryNormalize(SandboxFieldDefinition field, JsonNode? value, out JsonNode? normalized)
    {
        normalized = null;
        if (value is null)
        {
            return true;
        }

        if (value is not JsonValue scalar)
        {
            return false;
        }

        var kind = scalar.GetValueKind();
        var text = kind == JsonValueKind.String ? scalar.GetValue<string>() : scalar.ToJsonString();
        switch (field.DataType)
        {
            case "integer":
                if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
                {
                    normalized = JsonValue.Create(integer);
                    return true;
                }
                return false;
            case "float" or "currency" or "percent":
                if (kind is JsonValueKind.Number or JsonValueKind.String &&
                    double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
                {
                    normalized = JsonValue.Create(number);
                    return true;
                }
                return false;
            case "boolean":
                if (kind is JsonValueKind.True or JsonValueKind.False)
                {
                    normalized = JsonValue.Create(kind == JsonValueKind.True);
                    return true;
                }
                if (text is "true" or "false" or "1" or "0")
                {
                    normalized = JsonValue.Create(text is "true" or "1");
                    return true;
                }
                return false;
            case "datetime":
                if (kind == JsonValueKind.String && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture,
                        DateTimeStyles.AssumeUniversal, out var at) && text.Contains('-'))
                {
                    normalized = JsonValue.Create(at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
                    return true;
                }
                return false;
            case "date":
                if (kind == JsonValueKind.String && DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture,
                        DateTimeStyles.None, out _))
                {
                    normalized = JsonValue.Create(text);
                    return true;
                }
                return false;
            case "email":
                if (kind != JsonValueKind.String)
                {
                    return false;
                }
                if (text.Length == 0 || IsEmail(text))
                {
                    normalized = JsonValue.Create(text);
                    return true;
                }
                return false;
            default:
                if (kind is JsonValueKind.Object or JsonValueKind.Array)
                {
                    return false;
                }
                var max = field.Length ?? (field.DataType == "text" ? 30_000 : 255);
                if (text.Length > max)
                {
                    return false;
                }
                normalized = JsonValue.Create(text);
                return true;
        }
    }

    /// <summary>Marketo requires ASCII emails with one @ and a dotted domain.</summary>
    public static bool IsEmail(string text)
    {
        var at = text.IndexOf('@');
        return at > 0 && at == text.LastIndexOf('@') && text.IndexOf('.', at) > at + 1 && !text.EndsWith('.') &&
               text.All(c => c > ' ' && c < 127);
    }
}
