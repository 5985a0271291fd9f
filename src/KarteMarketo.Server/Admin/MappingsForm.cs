using System.Text.RegularExpressions;
using KarteMarketo.Contracts.Projects;
using KarteMarketo.Server.Settings;

namespace KarteMarketo.Server.Admin;

/// <summary>
/// The rows of the mappings form (<c>fieldMappings[i].marketoField</c>, <c>activityMappings[i].attributes</c>, …) and
/// the edits its buttons make before a save: add a row, remove one, move one up or down. Nothing is stored until
/// "save", which sends the rows as the request's <c>fieldMappings</c> and <c>activityMappings</c>.
/// </summary>
public static partial class MappingsForm
{
    public sealed class FieldRow
    {
        public string MarketoField { get; set; } = "";
        public string Convert { get; set; } = FieldConversions.None;
        public string SyncField { get; set; } = "";
        public string SubscriptionField { get; set; } = "";
    }

    public sealed class ActivityRow
    {
        public string Event { get; set; } = "";
        public string ActivityTypeId { get; set; } = "";
        public string PrimaryAttribute { get; set; } = "";
        /// <summary><c>apiName=valueKey</c> pairs, comma-separated.</summary>
        public string Attributes { get; set; } = "";
    }

    public static List<FieldRow> FieldRows(SettingsRequest request) =>
        [.. (request.FieldMappings ?? []).Where(m => m is not null).Select(m => new FieldRow
        {
            MarketoField = m!.MarketoField ?? "",
            Convert = m.Convert ?? FieldConversions.None,
            SyncField = m.SyncField ?? "",
            SubscriptionField = m.SubscriptionField ?? "",
        })];

    public static List<ActivityRow> ActivityRows(SettingsRequest request) =>
        [.. (request.ActivityMappings ?? []).Where(m => m is not null).Select(m => new ActivityRow
        {
            Event = m!.Event ?? "",
            ActivityTypeId = m.ActivityTypeId?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "",
            PrimaryAttribute = m.PrimaryAttribute ?? "",
            Attributes = string.Join(", ", (m.Attributes ?? []).Select(a => $"{a.Key}={a.Value}")),
        })];

    public static List<FieldRow> FieldRows(IFormCollection form) =>
        [.. Indices(form, "fieldMappings").Select(i => new FieldRow
        {
            MarketoField = Value(form, $"fieldMappings[{i}].marketoField"),
            Convert = Value(form, $"fieldMappings[{i}].convert"),
            SyncField = Value(form, $"fieldMappings[{i}].syncField"),
            SubscriptionField = Value(form, $"fieldMappings[{i}].subscriptionField"),
        })];

    public static List<ActivityRow> ActivityRows(IFormCollection form) =>
        [.. Indices(form, "activityMappings").Select(i => new ActivityRow
        {
            Event = Value(form, $"activityMappings[{i}].event"),
            ActivityTypeId = Value(form, $"activityMappings[{i}].activityTypeId"),
            PrimaryAttribute = Value(form, $"activityMappings[{i}].primaryAttribute"),
            Attributes = Value(form, $"activityMappings[{i}].attributes"),
        })];

    /// <summary>Applies a button: <c>add-field</c>, <c>remove-field-2</c>, <c>up-activity-1</c>, <c>down-field-0</c>.
    /// Returns false for <c>save</c> (or anything else), which the caller handles.</summary>
    public static bool ApplyEdit(string? op, List<FieldRow> fields, List<ActivityRow> activities)
    {
        if (op == "add-field") { fields.Add(new FieldRow()); return true; }
        if (op == "add-activity") { activities.Add(new ActivityRow()); return true; }
        var match = EditPattern().Match(op ?? "");
        if (!match.Success) return false;
        var index = int.Parse(match.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture);
        return match.Groups[2].Value == "field"
            ? Edit(fields, match.Groups[1].Value, index)
            : Edit(activities, match.Groups[1].Value, index);
    }

    /// <summary>The rows as the request's mappings; an activity type id that is not a number is reported in
    /// <paramref name="parseErrors"/>, as is an attribute pair without <c>=</c>.</summary>
    public static void Apply(SettingsRequest request, List<FieldRow> fields, List<ActivityRow> activities, ValidationErrors parseErrors)
    {
        request.FieldMappings = [.. fields.Select(f => new FieldMappingRequest
        {
            MarketoField = f.MarketoField.Trim(),
            Convert = f.Convert,
            SyncField = f.SyncField.Trim(),
            SubscriptionField = string.IsNullOrWhiteSpace(f.SubscriptionField) ? null : f.SubscriptionField.Trim(),
        })];
        var list = new List<ActivityMappingRequest?>();
        for (var i = 0; i < activities.Count; i++)
        {
            var a = activities[i];
            int? typeId = null;
            if (a.ActivityTypeId.Trim().Length > 0)
            {
                if (int.TryParse(a.ActivityTypeId.Trim(), System.Globalization.NumberStyles.AllowLeadingSign,
                        System.Globalization.CultureInfo.InvariantCulture, out var parsed)) typeId = parsed;
                else parseErrors.Add($"activityMappings[{i}].activityTypeId", SettingsForm.NotAnInteger);
            }
            var attributes = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var pair in a.Attributes.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = pair.IndexOf('=');
                if (eq <= 0) parseErrors.Add($"activityMappings[{i}].attributes", $"'{pair}' is not apiName=valueKey");
                else attributes[pair[..eq].Trim()] = pair[(eq + 1)..].Trim();
            }
            list.Add(new ActivityMappingRequest
            {
                Event = a.Event.Trim(),
                ActivityTypeId = typeId,
                PrimaryAttribute = a.PrimaryAttribute.Trim(),
                Attributes = attributes,
            });
        }
        request.ActivityMappings = list;
    }

    private static bool Edit<T>(List<T> rows, string verb, int index)
    {
        if (index < 0 || index >= rows.Count) return true;
        switch (verb)
        {
            case "remove":
                rows.RemoveAt(index);
                break;
            case "up" when index > 0:
                (rows[index - 1], rows[index]) = (rows[index], rows[index - 1]);
                break;
            case "down" when index < rows.Count - 1:
                (rows[index + 1], rows[index]) = (rows[index], rows[index + 1]);
                break;
        }
        return true;
    }

    private static IEnumerable<int> Indices(IFormCollection form, string list)
    {
        var prefix = list + "[";
        return form.Keys
            .Where(k => k.StartsWith(prefix, StringComparison.Ordinal))
            .Select(k => int.TryParse(k.AsSpan(prefix.Length, Math.Max(0, k.IndexOf(']') - prefix.Length)), out var i) ? i : -1)
            .Where(i => i >= 0)
            .Distinct()
            .Order();
    }

    private static string Value(IFormCollection form, string name) => form.TryGetValue(name, out var v) ? v.ToString() : "";

    [GeneratedRegex("^(remove|up|down)-(field|activity)-([0-9]{1,4})$", RegexOptions.CultureInvariant)]
    private static partial Regex EditPattern();
}
