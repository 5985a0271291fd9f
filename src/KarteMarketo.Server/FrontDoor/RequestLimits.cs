using Microsoft.AspNetCore.Http.Features;

namespace KarteMarketo.Server.FrontDoor;

/// <summary>Request size limits (API.md: bodies over 1 MiB are answered 413).</summary>
public static class RequestLimits
{
    public const int MaxBodyBytes = 1024 * 1024;
}

/// <summary>
/// Refuses a declared <c>Content-Length</c> over the limit before anything reads it, and caps bodies without one
/// (chunked): reading past the limit throws <see cref="BadHttpRequestException"/> with 413, which
/// <see cref="JsonBody"/> and the exception handler turn into a 413 problem. Kestrel enforces the same limit; the
/// wrapper covers hosts that do not (the in-memory test server).
/// </summary>
internal sealed class RequestBodyLimitMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (context.Request.ContentLength > RequestLimits.MaxBodyBytes)
            return Problems.PayloadTooLarge().ExecuteAsync(context);

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
            sizeFeature.MaxRequestBodySize = RequestLimits.MaxBodyBytes;
        context.Request.Body = new LimitedReadStream(context.Request.Body, RequestLimits.MaxBodyBytes);
        return next(context);
    }
}

/// <summary>A read-only view of a stream that throws 413 once more than the limit has been read.</summary>
internal sealed class LimitedReadStream(Stream inner, long limit) : Stream
{
    private long _total;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _total; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Count(await inner.ReadAsync(buffer, cancellationToken));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private int Count(int read)
    {
        _total += read;
        if (_total > limit)
            throw new BadHttpRequestException("Request body too large.", StatusCodes.Status413PayloadTooLarge);
        return read;
    }
}
