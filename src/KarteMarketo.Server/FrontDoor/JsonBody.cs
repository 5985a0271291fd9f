using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;

namespace KarteMarketo.Server.FrontDoor;

/// <summary>
/// Reads a JSON request body the one way every endpoint answers bad input (API.md, "Conventions"):
/// <list type="bullet">
/// <item>a body over 1 MiB → 413;</item>
/// <item>a <c>Content-Type</c> that is not JSON → 415 (no <c>Content-Type</c> at all is read as JSON);</item>
/// <item>an empty body, malformed JSON (syntax, invalid UTF-8, duplicate property names, nesting deeper than 64) or a
/// top-level <c>null</c> → 400 with a <c>detail</c> naming line and byte;</item>
/// <item>a string holding U+0000 or a lone surrogate, or a control character in an id, name or key
/// (<see cref="TextRule"/>) → 400 naming its JSON path;</item>
/// <item>a value of the wrong type for the target DTO → 400 with <c>errors</c> keyed by its JSON path
/// (<c>{ "quota.dailyLimit": ["must be an integer"] }</c>, <c>{ "[3].userId": ["must be a string"] }</c>).</item>
/// </list>
/// All problems are <c>application/problem+json</c> from <see cref="Problems"/>.
/// </summary>
/// <remarks>
/// Take <see cref="HttpRequest"/> (or <see cref="HttpContext"/>) in the handler instead of a body parameter, so that
/// the framework's binder does not answer first with a bare 400:
/// <code>
/// static async Task&lt;Results&lt;Accepted&lt;X&gt;, ProblemHttpResult&gt;&gt; PostAsync(string projectId, HttpRequest request, CancellationToken ct)
/// {
///     var body = await JsonBody.ReadNodeAsync(request, ct);            // or ReadAsync&lt;MyDto&gt;(request, cancellationToken: ct)
///     if (!body.IsOk) return body.Problem;
///     var errors = new ValidationErrors();
///     // … check body.Value, errors.Add("[2].userId", "must be 1–512 bytes") …
///     if (errors.HasErrors) return Problems.Validation(errors);     // nothing stored
///     …
/// }
/// </code>
/// DTOs read with <see cref="ReadAsync{T}"/> should have nullable members, so a missing member (null) can be told from
/// a wrong type (a 400 from here). Names are camelCase and case-sensitive; numbers must be JSON numbers.
/// </remarks>
public static class JsonBody
{
    /// <summary>Options for reading request DTOs: camelCase names matched exactly, numbers only as JSON numbers,
    /// duplicate property names refused.</summary>
    public static JsonSerializerOptions StrictOptions { get; } = CreateStrictOptions();

    private static readonly JsonDocumentOptions DocumentOptions = new()
    {
        AllowTrailingCommas = false,
        CommentHandling = JsonCommentHandling.Disallow,
        MaxDepth = 64,
        // Which of two "email" members would win is not something a client should have to guess.
        AllowDuplicateProperties = false,
    };

    /// <summary>Reads the body as a <see cref="JsonNode"/> (object, array or value; never JSON <c>null</c>).</summary>
    public static async Task<JsonBodyResult<JsonNode>> ReadNodeAsync(HttpRequest request, CancellationToken cancellationToken = default)
    {
        var bytes = await ReadUtf8Async(request, cancellationToken);
        if (!bytes.IsOk) return new(null, bytes.Problem);
        using var body = bytes.Value;
        return ParseNode(body.Span);
    }

    /// <summary>Reads the body as checked UTF-8 (every rule above but the parse): for endpoints that parse it
    /// themselves, straight from the bytes, and use <see cref="ParseNode"/> only where they need the general reading.
    /// The bytes are in a pooled buffer: dispose the result's value once nothing reads them any more.</summary>
    public static async Task<JsonBodyResult<Utf8Body>> ReadUtf8Async(HttpRequest request, CancellationToken cancellationToken = default)
    {
        if (!IsJsonContentType(request.ContentType))
            return new(null, Problems.UnsupportedMediaType("Send JSON (Content-Type: application/json)."));

        Utf8Body? body;
        try
        {
            body = await ReadAllAsync(request, cancellationToken);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return new(null, Problems.PayloadTooLarge());
        }
        if (body is null) return new(null, Problems.PayloadTooLarge());
        var problem = Check(body.Span);
        if (problem is null) return new(body, null);
        body.Dispose();
        return new(null, problem);
    }

    private static ProblemHttpResult? Check(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0 || IsWhiteSpaceOnly(bytes))
            return Problems.BadRequest("The request body is empty; send a JSON document.");
        // The parser checks UTF-8 inside strings only when they are read, which may be long after this point.
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
            return Problems.BadRequest("The request body is not valid UTF-8.");

        // Before parsing, so it holds for every endpoint: text that storage cannot hold is refused, naming its path.
        if (TextRule.Check(bytes) is { } bad)
            return TextRule.IsOversize(bad.Message)
                ? Problems.ValuesTooLarge(bad.Path, bad.Message)
                : Problems.Validation(bad.Path, bad.Message, "The request holds text that cannot be stored; see errors. Nothing was changed.");
        return null;
    }

    /// <summary>Parses checked UTF-8 from <see cref="ReadUtf8Async"/> as a <see cref="JsonNode"/> (which keeps its own
    /// copy: the buffer may be returned afterwards).</summary>
    public static JsonBodyResult<JsonNode> ParseNode(ReadOnlySpan<byte> bytes)
    {
        try
        {
            var node = JsonNode.Parse(bytes, nodeOptions: null, DocumentOptions);
            if (node is null) return new(null, Problems.BadRequest("The request body is JSON null; send a JSON document."));
            return new(node, null);
        }
        catch (JsonException ex)
        {
            return new(null, Problems.BadRequest(DescribeSyntaxError(ex)));
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or DecoderFallbackException)
        {
            return new(null, Problems.BadRequest("The request body is not valid UTF-8 JSON."));
        }
    }

    /// <summary>Reads the body and binds it to <typeparamref name="T"/> with <paramref name="options"/>
    /// (default <see cref="StrictOptions"/>).</summary>
    public static async Task<JsonBodyResult<T>> ReadAsync<T>(HttpRequest request, JsonSerializerOptions? options = null,
        CancellationToken cancellationToken = default) where T : class
    {
        var node = await ReadNodeAsync(request, cancellationToken);
        return node.IsOk ? Bind<T>(node.Value, options) : new(null, node.Problem);
    }

    /// <summary>Binds an already-parsed node (say one element of an array body) to <typeparamref name="T"/>.
    /// <paramref name="pathPrefix"/> (e.g. <c>[3]</c>) is put before the paths of type errors.</summary>
    public static JsonBodyResult<T> Bind<T>(JsonNode node, JsonSerializerOptions? options = null, string pathPrefix = "") where T : class
    {
        options ??= StrictOptions;
        try
        {
            var value = node.Deserialize<T>(options);
            return value is null
                ? new(null, Problems.Validation(pathPrefix.Length == 0 ? "$" : pathPrefix, "must not be null"))
                : new(value, null);
        }
        catch (JsonException ex)
        {
            var path = ToErrorPath(ex.Path);
            var message = ex.Message.Contains("could not be mapped", StringComparison.Ordinal)
                ? "is not a known field"
                : DescribeExpected(options, typeof(T), ex.Path);
            return new(null, Problems.Validation(Prefix(pathPrefix, path), message,
                "A value has the wrong type; see errors. Nothing was changed."));
        }
    }

    /// <summary><c>$.a.b[2]</c> → <c>a.b[2]</c>; <c>$[3].userId</c> → <c>[3].userId</c>; the whole body is <c>$</c>.</summary>
    public static string ToErrorPath(string? jsonPath)
    {
        if (string.IsNullOrEmpty(jsonPath) || jsonPath == "$") return "$";
        if (jsonPath.StartsWith("$.", StringComparison.Ordinal)) return jsonPath[2..];
        return jsonPath.StartsWith('$') ? jsonPath[1..] : jsonPath;
    }

    private static string Prefix(string prefix, string path) =>
        prefix.Length == 0 ? path
        : path == "$" ? prefix
        : path.StartsWith('[') ? prefix + path
        : $"{prefix}.{path}";

    private static bool IsJsonContentType(string? contentType)
    {
        if (string.IsNullOrWhiteSpace(contentType)) return true;
        if (!MediaTypeHeaderValue.TryParse(contentType, out var media)) return false;
        var type = media.MediaType.Value ?? "";
        if (media.Charset.HasValue && !media.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase)) return false;
        return type.Equals("application/json", StringComparison.OrdinalIgnoreCase)
               || type.EndsWith("+json", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The whole body, or null when it is larger than the limit.</summary>
    private static async Task<Utf8Body?> ReadAllAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > RequestLimits.MaxBodyBytes) return null;
        if (request.ContentLength is { } length and <= RequestLimits.MaxBodyBytes)
        {
            // The usual case: one pooled buffer of at least the announced size, read into directly (Kestrel refuses a
            // body that does not match its Content-Length). Pooled because the events endpoint reads hundreds of
            // thousands of them a second, and each was a fresh array for the collector (issue 18).
            var body = Utf8Body.Rent((int)length);
            try
            {
                while (body.Length < length)
                {
                    var n = await request.Body.ReadAsync(body.Free((int)length), cancellationToken);
                    if (n == 0) break;
                    body.Length += n;
                }
                return body;
            }
            catch
            {
                body.Dispose();
                throw;
            }
        }
        using var buffer = new MemoryStream(4096);
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > RequestLimits.MaxBodyBytes) return null;
            buffer.Write(chunk, 0, read);
        }
        return Utf8Body.Of(buffer.ToArray());
    }

    private static bool IsWhiteSpaceOnly(ReadOnlySpan<byte> bytes) => bytes.IndexOfAnyExcept(" \t\r\n"u8) < 0;

    private static string DescribeSyntaxError(JsonException ex)
    {
        var where = ex.LineNumber is { } line
            ? $" (line {line + 1}, byte {(ex.BytePositionInLine ?? 0) + 1})"
            : "";
        var what = ex.Message.Contains("Duplicate", StringComparison.OrdinalIgnoreCase) ? "has a duplicate property name" : "is not valid JSON";
        return $"The request body {what}{where}.";
    }

    /// <summary>"must be an integer", "must be a string", …: what the DTO wanted at the path the serializer stopped at.</summary>
    private static string DescribeExpected(JsonSerializerOptions options, Type root, string? jsonPath)
    {
        try
        {
            var type = TypeAt(options, root, jsonPath);
            return type is null ? "has the wrong type" : Describe(options, type);
        }
        catch (Exception ex) when (ex is NotSupportedException or InvalidOperationException or ArgumentException)
        {
            return "has the wrong type";
        }
    }

    private static Type? TypeAt(JsonSerializerOptions options, Type root, string? jsonPath)
    {
        var type = root;
        var path = jsonPath ?? "$";
        var i = path.StartsWith('$') ? 1 : 0;
        while (i < path.Length)
        {
            var info = options.GetTypeInfo(Nullable.GetUnderlyingType(type) ?? type);
            if (path[i] == '.')
            {
                var end = path.IndexOfAny(['.', '['], i + 1);
                var name = end < 0 ? path[(i + 1)..] : path[(i + 1)..end];
                i = end < 0 ? path.Length : end;
                type = Member(info, name);
            }
            else if (path[i] == '[' && i + 1 < path.Length && path[i + 1] == '\'')
            {
                var end = path.IndexOf("']", i + 2, StringComparison.Ordinal);
                if (end < 0) return null;
                var name = path[(i + 2)..end];
                i = end + 2;
                type = Member(info, name);
            }
            else if (path[i] == '[')
            {
                var end = path.IndexOf(']', i);
                if (end < 0) return null;
                i = end + 1;
                type = info.ElementType;
            }
            else
            {
                return null;
            }
            if (type is null) return null;
        }
        return type;
    }

    private static Type? Member(JsonTypeInfo info, string name) => info.Kind switch
    {
        JsonTypeInfoKind.Object => info.Properties.FirstOrDefault(p => p.Name == name)?.PropertyType,
        JsonTypeInfoKind.Dictionary => info.ElementType,
        _ => null,
    };

    private static string Describe(JsonSerializerOptions options, Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(int) || type == typeof(long) || type == typeof(short) || type == typeof(byte)) return "must be an integer";
        if (type == typeof(double) || type == typeof(decimal) || type == typeof(float)) return "must be a number";
        if (type == typeof(bool)) return "must be true or false";
        if (type == typeof(string)) return "must be a string";
        if (type == typeof(DateTimeOffset) || type == typeof(DateTime)) return "must be an ISO-8601 date-time string";
        if (typeof(JsonNode).IsAssignableFrom(type) || type == typeof(JsonElement) || type == typeof(object)) return "has the wrong type";
        return options.GetTypeInfo(type).Kind switch
        {
            JsonTypeInfoKind.Enumerable => "must be an array",
            JsonTypeInfoKind.Dictionary or JsonTypeInfoKind.Object => "must be an object",
            _ => "has the wrong type",
        };
    }

    private static JsonSerializerOptions CreateStrictOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.General)
        {
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
            PropertyNameCaseInsensitive = false,
            NumberHandling = JsonNumberHandling.Strict,
            AllowDuplicateProperties = false,
            MaxDepth = 64,
            TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
        };
        options.MakeReadOnly();
        return options;
    }
}

/// <summary>A request body's bytes (<see cref="JsonBody.ReadUtf8Async"/>), in a buffer from the shared pool when its
/// length was announced; <see cref="Dispose"/> gives the buffer back.</summary>
public sealed class Utf8Body : IDisposable
{
    private byte[]? _buffer;
    private readonly bool _pooled;

    private Utf8Body(byte[] buffer, int length, bool pooled) => (_buffer, Length, _pooled) = (buffer, length, pooled);

    internal static Utf8Body Rent(int capacity) => new(System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(capacity, 1)), 0, pooled: true);

    internal static Utf8Body Of(byte[] bytes) => new(bytes, bytes.Length, pooled: false);

    /// <summary>How many bytes were read.</summary>
    public int Length { get; internal set; }

    public ReadOnlySpan<byte> Span => Buffer.AsSpan(0, Length);

    internal Memory<byte> Free(int upTo) => Buffer.AsMemory(Length, upTo - Length);

    private byte[] Buffer => _buffer ?? throw new ObjectDisposedException(nameof(Utf8Body));

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        // Cleared on the way back: settings bodies carry secrets (client secret, app token), and a pooled array lives on
        // for as long as the process, unlike a dropped one. A memset of a few KiB is nothing next to the request.
        if (buffer is not null && _pooled) System.Buffers.ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
    }
}

/// <summary>Either a value or the problem to answer with.</summary>
public readonly record struct JsonBodyResult<T>(T? Value, ProblemHttpResult? Problem) where T : class
{
    [MemberNotNullWhen(true, nameof(Value))]
    [MemberNotNullWhen(false, nameof(Problem))]
    public bool IsOk => Problem is null && Value is not null;
}
