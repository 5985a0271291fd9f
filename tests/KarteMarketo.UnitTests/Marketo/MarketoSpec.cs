using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;

namespace KarteMarketo.UnitTests.Marketo;

/// <summary>Adobe's Swagger 2.0 specs (shared/marketo-spec beside the clone): operations by method and path.</summary>
internal sealed class MarketoSpec
{
    private MarketoSpec(JsonObject mapi, JsonObject identity)
    {
        Mapi = mapi;
        Identity = identity;
    }

    public JsonObject Mapi { get; }
    public JsonObject Identity { get; }

    public static MarketoSpec Load()
    {
        var folder = FindSpecFolder();
        return new MarketoSpec(
            JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "swagger-mapi.json")))!.AsObject(),
            JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "swagger-identity.json")))!.AsObject());
    }

    /// <summary>The operation for <paramref name="method"/> on <paramref name="path"/>, or null. <paramref name="path"/> may be
    /// a route template (<c>{leadId}</c>, compared by position) or a concrete path (<c>/rest/v1/leads/42/associate.json</c>,
    /// matched against the spec's templates). Exact template matches win over concrete matches.</summary>
    public JsonObject? Operation(string method, string path)
    {
        var candidates = new[] { Mapi, Identity }.SelectMany(spec => spec["paths"]!.AsObject())
            .Where(p => p.Value![method.ToLowerInvariant()] is JsonObject)
            .ToList();
        var exact = candidates.FirstOrDefault(p => Normalize(p.Key) == Normalize(path));
        if (exact.Value is not null)
        {
            return exact.Value[method.ToLowerInvariant()]!.AsObject();
        }
        var concrete = candidates.FirstOrDefault(p => System.Text.RegularExpressions.Regex.IsMatch(path,
            "^" + System.Text.RegularExpressions.Regex.Replace(System.Text.RegularExpressions.Regex.Escape(p.Key), @"\\\{[^}]+\}", "[^/]+") + "$"));
        return concrete.Value?[method.ToLowerInvariant()]!.AsObject();
    }

    /// <summary>Declared parameters of an operation: name → location ("query", "path", "body", "formData").</summary>
    public static IReadOnlyDictionary<string, string> Parameters(JsonObject operation) =>
        (operation["parameters"] as JsonArray ?? []).OfType<JsonObject>()
            .ToDictionary(p => p["name"]!.GetValue<string>(), p => p["in"]!.GetValue<string>());

    /// <summary>Property names of a definition (following one $ref).</summary>
    public IReadOnlySet<string> Properties(string definition) =>
        Mapi["definitions"]![definition]!["properties"]!.AsObject().Select(p => p.Key).ToHashSet();

    /// <summary>The definition a body parameter or array property refers to.</summary>
    public static string RefName(JsonNode schema) => schema["$ref"]!.GetValue<string>().Split('/').Last();

    /// <summary>Turns <c>/rest/v1/lead/{leadId}.json</c> and <c>/rest/v1/lead/{id}.json</c> into the same shape.</summary>
    public static string Normalize(string path) => System.Text.RegularExpressions.Regex.Replace(path.TrimEnd('/'), "\\{[^}]+\\}", "{}");

    /// <summary>Walks up from the test's output folder (and, when tests build into an artifacts folder outside the
    /// clone, from this source file) to the folder with KarteMarketo.sln; the specs sit in ../shared/marketo-spec.</summary>
    private static string FindSpecFolder([CallerFilePath] string sourceFile = "")
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(sourceFile) ?? "" })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "KarteMarketo.sln")))
                {
                    var spec = Path.Combine(dir.FullName, "..", "shared", "marketo-spec");
                    if (File.Exists(Path.Combine(spec, "swagger-mapi.json")))
                    {
                        return Path.GetFullPath(spec);
                    }
                }
            }
        }
        throw new InvalidOperationException("shared/marketo-spec/swagger-mapi.json not found beside the clone (walked up from " +
                                            AppContext.BaseDirectory + " and " + sourceFile + ")");
    }
}
