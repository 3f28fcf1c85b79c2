using System.Buffers;
using System.IO.Compression;
using System.IO.Pipelines;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace EntitlementDecision.Grpc.Internal;

/// <summary>
/// One unary method: read exactly one request message, run the handler (raced against the deadline),
/// write one response message and grpc-status. Per call it allocates the <see cref="ServerCallContext"/>,
/// the request and response messages, and, only when grpc-timeout is present, a CancellationTokenSource.
/// </summary>
internal sealed class UnaryServerMethod<TRequest, TResponse> : ServerMethod
    where TRequest : class, IMessage<TRequest>, new()
    where TResponse : class, IMessage<TResponse>
{
    internal const string IncompleteMessageDetail = "Incomplete message.";
    internal const string DeserializeFailedDetail = "Failed to deserialize request message.";
    internal const string CardinalityDetail = "Unary method expects exactly one request message.";

    private readonly MessageParser<TRequest> _parser = new(static () => new TRequest());
    private readonly Func<TRequest, ServerCallContext, ValueTask<TResponse>> _handler;
    private readonly int _maxReceiveMessageSize;
    private readonly int _maxSendMessageSize;
    private readonly bool _disableRequestBodySizeLimit;

    public UnaryServerMethod(string path, Func<TRequest, ServerCallContext, ValueTask<TResponse>> handler, GrpcServerOptions options, ILogger logger)
        : base(path, logger)
    {
        _handler = handler;
        _maxReceiveMessageSize = options.MaxReceiveMessageSize;
        _maxSendMessageSize = options.MaxSendMessageSize;
        _disableRequestBodySizeLimit = options.MaxReceiveMessageSize > 16 * 1024 * 1024;
    }

    public override async Task HandleAsync(HttpContext httpContext)
    {
        if (!ValidateRequest(httpContext))
        {
            return;
        }

        var request = httpContext.Request;
        if (_disableRequestBodySizeLimit)
        {
            // Kestrel's own limit (30 MB by default) would cut a message the configured limit allows.
            var bodySize = httpContext.Features.Get<IHttpMaxRequestBodySizeFeature>();
            if (bodySize is { IsReadOnly: false })
            {
                bodySize.MaxRequestBodySize = null;
            }
        }

        var requestAborted = httpContext.RequestAborted;
        CancellationTokenSource? deadlineCts = null;
        DateTimeOffset? deadline = null;
        var timeoutHeader = request.Headers.GrpcTimeout;
        if (timeoutHeader.Count > 0)
        {
            if (GrpcTimeout.TryParse(timeoutHeader[0], out var timeout))
            {
                // Past ~24.8 days CancelAfter cannot represent it: treat as no deadline.
                if (timeout.TotalMilliseconds < int.MaxValue)
                {
                    deadline = DateTimeOffset.UtcNow + timeout;
                    deadlineCts = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
                    deadlineCts.CancelAfter(timeout);
                }
            }
            else
            {
                // The spec does not define an error for a malformed timeout; like grpc-dotnet, ignore it.
                Log.InvalidTimeout(Logger, Path, timeoutHeader.ToString());
            }
        }

        var call = new ServerCallContext(httpContext, Path, deadline, deadlineCts?.Token ?? requestAborted);
        try
        {
            var message = await ReadRequestAsync(request.BodyReader, request.Headers.GrpcEncoding, call.CancellationToken).ConfigureAwait(false);

            var pending = _handler(message, call);
            TResponse response;
            if (pending.IsCompletedSuccessfully)
            {
                response = pending.Result;
            }
            else if (deadlineCts is null)
            {
                response = await pending.ConfigureAwait(false);
            }
            else
            {
                // Race the handler against the deadline: DEADLINE_EXCEEDED goes out on time even when the
                // handler ignores its token. A handler still running afterwards only holds its (detached) context.
                response = await pending.AsTask().WaitAsync(deadlineCts.Token).ConfigureAwait(false);
            }

            WriteResponse(httpContext, call, response);
        }
        catch (Exception) when (requestAborted.IsCancellationRequested)
        {
            // The client reset the stream (or the connection dropped): there is no one to answer.
            Log.ClientCancelled(Logger, Path);
        }
        catch (Exception ex)
        {
            var status = GrpcStatusMapper.Map(ex, deadlineCts?.IsCancellationRequested == true, clientCancelled: false, out var detail, out var unexpected);
            if (unexpected)
            {
                Log.HandlerThrew(Logger, Path, status, ex);
            }
            else
            {
                Log.CallFailed(Logger, Path, status, detail);
            }

            WriteStatus(httpContext, call, status, detail);
        }
        finally
        {
            call.Detach();
            deadlineCts?.Dispose();
        }
    }

    private void WriteResponse(HttpContext httpContext, ServerCallContext call, TResponse message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var size = message.CalculateSize();
        if (size > _maxSendMessageSize)
        {
            throw new RpcException(StatusCode.ResourceExhausted, $"Sending message exceeds the maximum configured message size ({size} > {_maxSendMessageSize}).");
        }

        var response = httpContext.Response;
        response.ContentType = GrpcProtocol.ContentType;
        var headers = response.Headers;
        headers.GrpcAcceptEncoding = GrpcProtocol.AcceptEncoding;
        AppendAll(headers, call.ResponseHeaders);

        var writer = response.BodyWriter;
        var frameLength = GrpcProtocol.HeaderSize + size;
        var span = writer.GetSpan(frameLength);
        GrpcProtocol.WriteHeader(span, compressed: false, size);
        message.WriteTo(span.Slice(GrpcProtocol.HeaderSize, size));
        writer.Advance(frameLength);

        var trailers = httpContext.Features.Get<IHttpResponseTrailersFeature>()!.Trailers;
        AppendAll(trailers, call.ResponseTrailers);
        trailers.GrpcStatus = GrpcProtocol.StatusToString(StatusCode.OK);
        // Kestrel flushes the message and the trailers (END_STREAM) together when the request delegate returns.
    }

    /// <summary>
    /// Reads the whole request body (a unary call half-closes after its message) and parses the one message.
    /// Incomplete frames are marked examined, not consumed, so the message stays contiguous when it can be
    /// and HTTP/2 flow control keeps moving.
    /// </summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<TRequest> ReadRequestAsync(PipeReader reader, string? encoding, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            long frameLength = -1;
            byte flag = 0;
            if (buffer.Length >= GrpcProtocol.HeaderSize)
            {
                ReadFrameHeader(buffer, out flag, out var length);
                if (length > (uint)_maxReceiveMessageSize)
                {
                    reader.AdvanceTo(buffer.End);
                    throw new RpcException(StatusCode.ResourceExhausted, $"Received message exceeds the maximum configured message size ({length} > {_maxReceiveMessageSize}).");
                }

                frameLength = GrpcProtocol.HeaderSize + length;
                if (buffer.Length > frameLength)
                {
                    reader.AdvanceTo(buffer.End);
                    throw new RpcException(StatusCode.Unimplemented, CardinalityDetail);
                }
            }

            if (!result.IsCompleted)
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }

            if (buffer.Length == 0)
            {
                throw new RpcException(StatusCode.Unimplemented, CardinalityDetail);
            }

            if (frameLength < 0 || buffer.Length < frameLength)
            {
                reader.AdvanceTo(buffer.End);
                throw new RpcException(StatusCode.Internal, IncompleteMessageDetail);
            }

            try
            {
                return Parse(buffer.Slice(GrpcProtocol.HeaderSize), flag, encoding);
            }
            finally
            {
                reader.AdvanceTo(buffer.End);
            }
        }
    }

    private static void ReadFrameHeader(in ReadOnlySequence<byte> buffer, out byte flag, out uint length)
    {
        var first = buffer.FirstSpan;
        if (first.Length >= GrpcProtocol.HeaderSize)
        {
            GrpcProtocol.ReadHeader(first, out flag, out length);
            return;
        }

        Span<byte> header = stackalloc byte[GrpcProtocol.HeaderSize];
        buffer.Slice(0, GrpcProtocol.HeaderSize).CopyTo(header);
        GrpcProtocol.ReadHeader(header, out flag, out length);
    }

    private TRequest Parse(in ReadOnlySequence<byte> payload, byte flag, string? encoding)
    {
        if (flag == 0)
        {
            try
            {
                return payload.IsSingleSegment ? _parser.ParseFrom(payload.FirstSpan) : _parser.ParseFrom(payload);
            }
            catch (InvalidProtocolBufferException)
            {
                throw new RpcException(StatusCode.Internal, DeserializeFailedDetail);
            }
        }

        if (flag != 1)
        {
            throw new RpcException(StatusCode.Internal, $"Invalid compressed flag {flag} in the message frame.");
        }

        if (encoding is null || string.Equals(encoding, GrpcProtocol.IdentityEncoding, StringComparison.Ordinal))
        {
            throw new RpcException(StatusCode.Internal, "Request message is compressed but grpc-encoding is identity.");
        }

        if (!string.Equals(encoding, GrpcProtocol.GzipEncoding, StringComparison.Ordinal))
        {
            // grpc-accept-encoding (identity,gzip) is in the response headers, as the spec asks.
            throw new RpcException(StatusCode.Unimplemented, $"Unsupported grpc-encoding value '{encoding}'. Supported encodings: identity, gzip.");
        }

        return ParseGzip(payload);
    }

    private TRequest ParseGzip(in ReadOnlySequence<byte> payload)
    {
        var compressedLength = (int)payload.Length;
        var compressed = ArrayPool<byte>.Shared.Rent(compressedLength);
        var decompressed = ArrayPool<byte>.Shared.Rent(Math.Max(256, compressedLength * 4));
        try
        {
            payload.CopyTo(compressed);
            var total = 0;
            using (var gzip = new GZipStream(new MemoryStream(compressed, 0, compressedLength, writable: false), CompressionMode.Decompress))
            {
                // Stop as soon as the output exceeds the limit: a small "zip bomb" cannot allocate more than ~2x the limit.
                while (total <= _maxReceiveMessageSize)
                {
                    if (total == decompressed.Length)
                    {
                        var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)total * 2, (long)_maxReceiveMessageSize + 1));
                        decompressed.AsSpan(0, total).CopyTo(larger);
                        ArrayPool<byte>.Shared.Return(decompressed);
                        decompressed = larger;
                    }

                    var read = gzip.Read(decompressed, total, decompressed.Length - total);
                    if (read == 0)
                    {
                        break;
                    }

                    total += read;
                }
            }

            if (total > _maxReceiveMessageSize)
            {
                throw new RpcException(StatusCode.ResourceExhausted, $"Received message exceeds the maximum configured message size (decompressed > {_maxReceiveMessageSize}).");
            }

            return _parser.ParseFrom(decompressed.AsSpan(0, total));
        }
        catch (InvalidDataException)
        {
            throw new RpcException(StatusCode.Internal, "Failed to decompress request message.");
        }
        catch (InvalidProtocolBufferException)
        {
            throw new RpcException(StatusCode.Internal, DeserializeFailedDetail);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(compressed);
            ArrayPool<byte>.Shared.Return(decompressed);
        }
    }
}
