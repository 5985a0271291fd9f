using System.Text.Json;

namespace KarteMarketo.Server.FrontDoor;

/// <summary>
/// List responses are at most 8 MiB (API.md, "A hardened host", Bounds), applied once for every <c>GET /v1/…</c> JSON
/// answer rather than per endpoint: an answer over the cap keeps the first rows of its list (newest first, as every
/// list is ordered) that fit, and says <c>"truncated": true</c>; ask again with a smaller <c>limit</c> (or a status
/// filter) for the rest. 1,000 rows of up to 64 KiB each could otherwise make a 64 MiB answer.
/// </summary>
internal sealed class ListResponseCapMiddleware(RequestDelegate next, ILogger<ListResponseCapMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (!HttpMethods.IsGet(context.Request.Method) || !context.Request.Path.StartsWithSegments("/v1"))
        {
            await next(context);
            return;
        }

        // Buffered, so that an answer over the cap can still be cut before any of it is sent. The API's answers are
        // built in memory anyway; this is one more copy of at most what the endpoint produced.
        var original = context.Response.Body;
        using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        try
        {
            await next(context);
        }
        finally
        {
            context.Response.Body = original;
        }

        var body = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        if (body.Length > ListResponseCap.MaxBytes && context.Response.StatusCode == StatusCodes.Status200OK &&
            context.Response.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) == true)
        {
            if (ListResponseCap.Trim(body.Span, ListResponseCap.MaxBytes) is { } trimmed)
            {
                logger.LogInformation("{Path}: answer of {Bytes} bytes cut to {Kept} bytes (list responses are at most {Max} bytes)",
                    context.Request.Path, body.Length, trimmed.Length, ListResponseCap.MaxBytes);
                body = trimmed;
                context.Response.ContentLength = body.Length;
            }
            else
            {
                logger.LogWarning("{Path}: answer of {Bytes} bytes is over the list cap but holds no list to cut", context.Request.Path, body.Length);
            }
        }
        // Nothing written is left alone: the status-code pages outside turn a bodiless error into problem+json.
        if (body.Length > 0) await original.WriteAsync(body, context.RequestAborted);
    }
}

/// <summary>Cuts the largest top-level list of a JSON object to what fits in a byte budget, on the bytes as
/// written (no document is built, elements are copied as they are).</summary>
internal static class ListResponseCap
{
    /// <summary>8 MiB.</summary>
    public const int MaxBytes = 8 * 1024 * 1024;

    private static ReadOnlySpan<byte> TruncatedMember => ",\"truncated\":true"u8;

    /// <summary>The object with its largest top-level array cut to its first elements that fit in
    /// <paramref name="maxBytes"/>, plus <c>"truncated": true</c>; null when <paramref name="json"/> is not an object
    /// holding an array, or when it cannot fit even with an empty list.</summary>
    public static byte[]? Trim(ReadOnlySpan<byte> json, int maxBytes)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;

        var bestStart = -1;   // index of the chosen array's '['
        var bestEnd = -1;     // index of its ']'
        List<(int Start, int End)> bestElements = [];
        var rootEnd = -1;     // index of the root object's '}'
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == 0)
            {
                rootEnd = (int)reader.TokenStartIndex;
                break;
            }
            if (reader.TokenType != JsonTokenType.PropertyName) continue;
            reader.Read();
            if (reader.TokenType == JsonTokenType.StartObject)
            {
                reader.Skip();
                continue;
            }
            if (reader.TokenType != JsonTokenType.StartArray) continue;

            var start = (int)reader.TokenStartIndex;
            var elements = new List<(int, int)>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                var elementStart = (int)reader.TokenStartIndex;
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray) reader.Skip();
                elements.Add((elementStart, (int)reader.BytesConsumed));
            }
            var end = (int)reader.TokenStartIndex;
            if (end - start > bestEnd - bestStart) (bestStart, bestEnd, bestElements) = (start, end, elements);
        }
        if (bestStart < 0 || rootEnd < 0) return null;

        // Kept as they are: everything up to and including '[', everything from ']' to the root's '}', and the tail.
        var fixedBytes = bestStart + 1 + (rootEnd - bestEnd) + TruncatedMember.Length + (json.Length - rootEnd);
        var budget = maxBytes - fixedBytes;
        if (budget < 0) return null;
        var kept = 0;
        var used = 0;
        foreach (var (start, end) in bestElements)
        {
            var cost = end - start + (kept > 0 ? 1 : 0);
            if (used + cost > budget) break;
            used += cost;
            kept++;
        }

        var output = new byte[fixedBytes + used];
        var at = 0;
        void Append(ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(output.AsSpan(at));
            at += bytes.Length;
        }
        Append(json[..(bestStart + 1)]);
        for (var i = 0; i < kept; i++)
        {
            if (i > 0) Append(","u8);
            Append(json[bestElements[i].Start..bestElements[i].End]);
        }
        Append(json[bestEnd..rootEnd]);
        Append(TruncatedMember);
        Append(json[rootEnd..]);
        return output;
    }
}
