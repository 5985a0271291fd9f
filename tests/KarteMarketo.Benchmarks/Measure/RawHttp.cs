using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace KarteMarketo.Benchmarks;

/// <summary>
/// A lean HTTP/1.1 load client for the ingest loops: keep-alive sockets, requests encoded once (request line, headers
/// and body in one array) and responses read only as far as the status, the headers that frame the body, and the body.
/// <para>
/// Why not <see cref="HttpClient"/>: on this two-core machine the generator shares the cores with the host it
/// measures. At the half-load rate HttpClient cost the generator about 120 µs of CPU per request (0.45 of a core at
/// 3,700 requests/s), taken from the server and the floor alike. The issue's own figures came from wrk, a C generator
/// built the same way as this one; a lighter generator measures the host, not the generator.
/// </para>
/// </summary>
internal sealed class RawHttpPool(Uri baseAddress) : IDisposable
{
    private readonly IPEndPoint _endpoint = new(IPAddress.Parse(baseAddress.Host), baseAddress.Port);
    private readonly ConcurrentStack<RawHttpConnection> _idle = new();
    private int _opened;

    /// <summary>Connections opened so far (a connection the server closed is replaced by a new one).</summary>
    public int Opened => Volatile.Read(ref _opened);

    /// <summary>A POST of a JSON body, encoded once: send the same array as often as needed.</summary>
    public byte[] EncodePost(string pathAndQuery, string? bearer, byte[] body)
    {
        var head = new StringBuilder()
            .Append("POST ").Append(pathAndQuery).Append(" HTTP/1.1\r\n")
            .Append("Host: ").Append(baseAddress.Authority).Append("\r\n")
            .Append("Content-Type: application/json; charset=utf-8\r\n")
            .Append("Content-Length: ").Append(body.Length).Append("\r\n");
        if (bearer is not null) head.Append("Authorization: Bearer ").Append(bearer).Append("\r\n");
        head.Append("\r\n");
        var headBytes = Encoding.ASCII.GetBytes(head.ToString());
        var request = new byte[headBytes.Length + body.Length];
        headBytes.CopyTo(request, 0);
        body.CopyTo(request, headBytes.Length);
        return request;
    }

    /// <summary>Sends <paramref name="request"/> on an idle connection (a new one when none is idle; callers bound how
    /// many are in flight) and reads the whole response.</summary>
    public async Task<RawHttpResponse> SendAsync(byte[] request, CancellationToken cancellationToken)
    {
        if (!_idle.TryPop(out var connection))
        {
            connection = await RawHttpConnection.OpenAsync(_endpoint, cancellationToken);
            Interlocked.Increment(ref _opened);
        }
        try
        {
            var response = await connection.ExchangeAsync(request, cancellationToken);
            if (response.KeepAlive) _idle.Push(connection);
            else connection.Dispose();
            return response;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        while (_idle.TryPop(out var connection)) connection.Dispose();
    }
}

/// <summary>What <see cref="RawHttpPool"/> read: the status, the body as text only when it was not 2xx (for the
/// error message), and whether the connection may be used again.</summary>
internal readonly record struct RawHttpResponse(int StatusCode, string? ErrorBody, bool KeepAlive);

/// <summary>One keep-alive connection: one request at a time.</summary>
internal sealed class RawHttpConnection : IDisposable
{
    private const int MaxHeaderBytes = 16 * 1024;
    private readonly Socket _socket;
    private byte[] _buffer = new byte[32 * 1024];
    private int _start;
    private int _end;

    private RawHttpConnection(Socket socket) => _socket = socket;

    public static async Task<RawHttpConnection> OpenAsync(IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken);
            return new RawHttpConnection(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public async Task<RawHttpResponse> ExchangeAsync(byte[] request, CancellationToken cancellationToken)
    {
        var sent = 0;
        while (sent < request.Length)
            sent += await _socket.SendAsync(request.AsMemory(sent), SocketFlags.None, cancellationToken);

        // Status line and headers.
        int headerEnd;
        while ((headerEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8)) < 0)
        {
            if (_end - _start > MaxHeaderBytes) throw new IOException("response headers over 16 KiB");
            await FillAsync(cancellationToken);
        }
        var head = _buffer.AsSpan(_start, headerEnd);
        if (head.Length < 12 || !head.StartsWith("HTTP/1.1 "u8)) throw new IOException("not an HTTP/1.1 response");
        var status = (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
        long? contentLength = null;
        var chunked = false;
        var keepAlive = true;
        foreach (var range in head.Split("\r\n"u8))
        {
            var line = head[range];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0) continue;
            var name = line[..colon];
            var value = line[(colon + 1)..].Trim((byte)' ');
            if (Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
                contentLength = System.Buffers.Text.Utf8Parser.TryParse(value, out long parsed, out var used) && used == value.Length
                    ? parsed : throw new IOException("a Content-Length that is not a number");
            else if (Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8)) chunked = Ascii.EqualsIgnoreCase(value, "chunked"u8);
            else if (Ascii.EqualsIgnoreCase(name, "Connection"u8)) keepAlive = !Ascii.EqualsIgnoreCase(value, "close"u8);
        }
        _start += headerEnd + 4;

        // The body: its bytes are only kept for an error's message.
        var keep = status is < 200 or >= 300 ? new MemoryStream() : null;
        if (chunked)
        {
            while (true)
            {
                var size = (int)await ReadChunkSizeAsync(cancellationToken);
                await ConsumeAsync(size, keep, cancellationToken);
                await ConsumeAsync(2, null, cancellationToken); // the chunk's CRLF, or the empty trailer's
                if (size == 0) break;
            }
        }
        else if (contentLength is { } length)
        {
            await ConsumeAsync(length, keep, cancellationToken);
        }
        else if (status is not (204 or 304) && status >= 200)
        {
            throw new IOException("a response without Content-Length or chunked framing");
        }
        var errorBody = keep is null ? null : Encoding.UTF8.GetString(keep.GetBuffer(), 0, (int)keep.Length);
        return new RawHttpResponse(status, errorBody, keepAlive);
    }

    private async Task<long> ReadChunkSizeAsync(CancellationToken cancellationToken)
    {
        int lineEnd;
        while ((lineEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8)) < 0)
        {
            if (_end - _start > 1024) throw new IOException("chunk size line over 1 KiB");
            await FillAsync(cancellationToken);
        }
        var line = _buffer.AsSpan(_start, lineEnd);
        var extension = line.IndexOf((byte)';');
        if (extension >= 0) line = line[..extension];
        var size = long.Parse(Encoding.ASCII.GetString(line.Trim((byte)' ')), System.Globalization.NumberStyles.HexNumber);
        _start += lineEnd + 2;
        return size;
    }

    private async Task ConsumeAsync(long count, MemoryStream? keep, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            if (_start == _end) await FillAsync(cancellationToken);
            var take = (int)Math.Min(count, _end - _start);
            keep?.Write(_buffer, _start, take);
            _start += take;
            count -= take;
        }
    }

    /// <summary>Reads more bytes after what is buffered (moving the unread part to the front first).</summary>
    private async Task FillAsync(CancellationToken cancellationToken)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length) Array.Resize(ref _buffer, _buffer.Length * 2);
        var read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken);
        if (read == 0) throw new IOException("the server closed the connection");
        _end += read;
    }

    public void Dispose() => _socket.Dispose();
}
