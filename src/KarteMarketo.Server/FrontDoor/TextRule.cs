using System.Text;
using System.Text.Json;

namespace KarteMarketo.Server.FrontDoor;

/// <summary>
/// Text that storage cannot hold is bad input (API.md, "A hardened host"): applied once, to every JSON body
/// (<see cref="JsonBody"/>) and every request path (<see cref="TextRuleMiddleware"/>), so no endpoint can forget it.
/// Anywhere: U+0000 (PostgreSQL text refuses it) and lone surrogates (not encodable as UTF-8). In ids, names and keys
/// (property names, values of members named <c>id</c>/<c>…Id</c>/<c>name</c>/<c>…Name</c>/<c>key</c>/<c>…Key</c>,
/// <c>email</c>, <c>event</c>, and elements of lists named <c>…Ids</c>/<c>…Names</c>/<c>…Keys</c>/<c>…Fields</c>;
/// inside the free-form maps <c>values</c>, <c>fields</c> and <c>attributes</c> only <c>email</c>, the rest is data): any
/// control character.
/// </summary>
public static class TextRule
{
    /// <summary>The first offending string in a UTF-8 JSON document, as (JSON path, message); null when all is well or
    /// when the document is not JSON (the parser reports that).</summary>
    /// <summary>Largest stored values of one event, lead or activity: the JSON of its <c>values</c>, <c>fields</c> or
    /// <c>attributes</c> map (API.md, "A hardened host", bounds).</summary>
    public const int MaxValuesBytes = 64 * 1024;

    /// <summary>Whether a problem message is an oversize values map (413) rather than bad text (400).</summary>
    public static bool IsOversize(string message) => message.StartsWith("must be at most", StringComparison.Ordinal);

    public static (string Path, string Message)? Check(ReadOnlySpan<byte> utf8Json)
    {
        // In valid UTF-8 JSON, U+0000 and surrogates can only be written as escapes, raw C0 controls are not allowed in
        // strings, and the other controls are DEL, U+0080–U+009F (C2 80–9F) and U+2028/9 (E2 80 A8/A9): a document
        // without a backslash, DEL, C2 or E2 byte holds nothing this rule refuses. The events hot path (issue 18)
        // stops here without reading a string. A document no longer than the values bound cannot hold an oversize map.
        if (utf8Json.Length <= MaxValuesBytes && utf8Json.IndexOfAny(PossiblyRefused) < 0) return null;
        var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { MaxDepth = 64, CommentHandling = JsonCommentHandling.Disallow });
        // One frame per open container: an array's next index, or an object's current member name.
        var frames = new List<Frame>();
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                    case JsonTokenType.StartArray:
                        var parentName = frames.Count > 0 && !frames[^1].IsArray ? frames[^1].Name : null;
                        AdvanceArray(frames);
                        frames.Add(new Frame(reader.TokenType == JsonTokenType.StartArray, -1, null, parentName, reader.TokenStartIndex));
                        break;
                    case JsonTokenType.EndObject:
                    case JsonTokenType.EndArray:
                    {
                        var closing = frames[^1];
                        if (!closing.IsArray && closing.ParentName is "values" or "fields" or "attributes" &&
                            reader.BytesConsumed - closing.Start > MaxValuesBytes)
                        {
                            frames[^1] = closing with { Name = null };
                            return (PathOf(frames), $"must be at most {MaxValuesBytes / 1024} KiB of JSON");
                        }
                        frames.RemoveAt(frames.Count - 1);
                        break;
                    }
                    case JsonTokenType.PropertyName:
                    {
                        var name = ReadString(ref reader, out var bad);
                        var top = frames[^1];
                        frames[^1] = top with { Name = name ?? "?" };
                        var problem = bad ?? Classify(name!, isIdentifier: true);
                        if (problem is not null) return (PathOf(frames), problem + " (in the member name)");
                        break;
                    }
                    case JsonTokenType.String:
                    {
                        AdvanceArray(frames);
                        var value = ReadString(ref reader, out var bad);
                        var problem = bad ?? Classify(value!, IsIdentifierPosition(frames));
                        if (problem is not null) return (PathOf(frames), problem);
                        break;
                    }
                    default:
                        AdvanceArray(frames);
                        break;
                }
            }
        }
        catch (JsonException)
        {
            return null;
        }
        return null;
    }

    private static readonly System.Buffers.SearchValues<byte> PossiblyRefused = System.Buffers.SearchValues.Create([(byte)'\\', 0x7F, 0xC2, 0xE2]);

    /// <summary>The first offending field of a form body (names are keys; values are data), or null.</summary>
    public static (string Path, string Message)? CheckForm(IFormCollection form)
    {
        foreach (var (name, values) in form)
        {
            if (Classify(name, isIdentifier: true) is { } badName) return ("$", badName + " (in a field name)");
            foreach (var value in values)
            {
                if (value is not null && Classify(value, IsIdentifierName(name)) is { } bad) return (name, bad);
            }
        }
        return null;
    }

    /// <summary>The problem with one id, name or key (a path segment, a query value), or null.</summary>
    public static string? CheckIdentifier(string text) => Classify(text, isIdentifier: true);

    private static string? ReadString(ref Utf8JsonReader reader, out string? problem)
    {
        problem = null;
        try
        {
            return reader.GetString();
        }
        catch (InvalidOperationException)
        {
            // An escaped lone surrogate (\ud800) cannot be unescaped into valid UTF-16/UTF-8.
            problem = "must not contain a lone surrogate";
            return null;
        }
    }

    private static string? Classify(string text, bool isIdentifier)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\0') return "must not contain U+0000";
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { i++; continue; }
                return "must not contain a lone surrogate";
            }
            if (char.IsLowSurrogate(c)) return "must not contain a lone surrogate";
            if (isIdentifier && (char.IsControl(c) || c is '\u2028' or '\u2029')) return "must not contain control characters";
        }
        return null;
    }

    private static bool IsIdentifierPosition(List<Frame> frames)
    {
        if (frames.Count == 0) return false;
        var top = frames[^1];
        // Members of the free-form maps (event values, lead fields, activity attributes) are data: "firstName" there is
        // a person's name, not an identifier. Their member names are still keys.
        // An email is a lead key wherever it appears.
        if (!top.IsArray)
            return top.Name is { } name && (top.ParentName is "values" or "fields" or "attributes" ? name == "email" : IsIdentifierName(name));
        return top.ParentName is { } list && (list.EndsWith("Ids", StringComparison.Ordinal) || list.EndsWith("Names", StringComparison.Ordinal) ||
                                              list.EndsWith("Keys", StringComparison.Ordinal) || list.EndsWith("Fields", StringComparison.Ordinal) ||
                                              list is "ids" or "names" or "keys" or "fields");
    }

    private static bool IsIdentifierName(string name) =>
        name is "id" or "name" or "key" or "email" or "event" ||
        name.EndsWith("Id", StringComparison.Ordinal) || name.EndsWith("Name", StringComparison.Ordinal) ||
        name.EndsWith("Key", StringComparison.Ordinal);

    private static void AdvanceArray(List<Frame> frames)
    {
        if (frames.Count > 0 && frames[^1].IsArray) frames[^1] = frames[^1] with { Index = frames[^1].Index + 1 };
    }

    /// <summary><c>a.b[2].c</c> in the same shape as the validation errors' paths; <c>$</c> for the root.</summary>
    private static string PathOf(List<Frame> frames)
    {
        var path = new StringBuilder();
        foreach (var frame in frames)
        {
            if (frame.IsArray)
            {
                if (frame.Index >= 0) path.Append('[').Append(frame.Index).Append(']');
            }
            else if (frame.Name is { } name)
            {
                if (path.Length > 0) path.Append('.');
                path.Append(Printable(name));
            }
        }
        return path.Length == 0 ? "$" : path.ToString();
    }

    /// <summary>A member name as it may be echoed back: control characters and lone surrogates as \uXXXX.</summary>
    private static string Printable(string name)
    {
        var text = new StringBuilder(name.Length);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            var paired = char.IsHighSurrogate(c) && i + 1 < name.Length && char.IsLowSurrogate(name[i + 1]);
            if (paired) { text.Append(c).Append(name[++i]); continue; }
            if (char.IsControl(c) || char.IsSurrogate(c)) text.Append($"\\u{(int)c:x4}");
            else text.Append(c);
        }
        return text.ToString();
    }

    private readonly record struct Frame(bool IsArray, int Index, string? Name, string? ParentName, long Start = 0);
}

/// <summary>Applies <see cref="TextRule"/> to the request path (ids, names and keys live there) before any endpoint.</summary>
internal sealed class TextRuleMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        if (TextRule.CheckIdentifier(path) is { } problem)
            return Problems.Validation("$path", problem, "The request path holds text that cannot be stored. Nothing was changed.").ExecuteAsync(context);
        return next(context);
    }
}
