using System.Buffers;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using EntitlementDecision.Grpc.Internal;
using Google.Protobuf;

namespace EntitlementDecision.Grpc;

/// <summary>The result of a unary call with its response metadata.</summary>
/// <param name="Response">The response message.</param>
/// <param name="Headers">Response headers (lower-case keys; several values joined with ",").</param>
/// <param name="Trailers">Response trailers, grpc-status and grpc-message included.</param>
public sealed record GrpcCallResult<TResponse>(TResponse Response, IReadOnlyDictionary<string, string> Headers, IReadOnlyDictionary<string, string> Trailers);

/// <summary>
/// A unary gRPC client over <see cref="HttpClient"/> (HTTP/2 prior knowledge for http:// addresses).
/// <c>http.BaseAddress</c> is the server, e.g. "http://127.0.0.1:50051". Thread-safe; reuse one instance.
/// </summary>
public sealed class GrpcClient
{
    private static readonly MediaTypeHeaderValue GrpcContentType = new(GrpcProtocol.ContentType);
    private readonly HttpClient _http;

    public GrpcClient(HttpClient http)
    {
        ArgumentNullException.ThrowIfNull(http);
        _http = http;
    }

    /// <summary>Largest accepted response message, in bytes (default 4 MiB). Larger: RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageSize { get; init; } = 4 * 1024 * 1024;

    /// <summary>
    /// Calls <paramref name="fullMethod"/> ("/package.Service/Method") and returns the response message.
    /// Throws <see cref="RpcException"/> for any non-OK status: the server's, DEADLINE_EXCEEDED when
    /// <see cref="CallOptions.Timeout"/> elapses, CANCELLED when <paramref name="cancellationToken"/> fires,
    /// UNAVAILABLE when the HTTP request fails.
    /// </summary>
    public async Task<TResponse> UnaryAsync<TRequest, TResponse>(string fullMethod, TRequest request, MessageParser<TResponse> parser, CallOptions options = default, CancellationToken cancellationToken = default)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        var result = await CallAsync(fullMethod, request, parser, options, captureMetadata: false, cancellationToken).ConfigureAwait(false);
        return result.Response;
    }

    /// <summary>Like <see cref="UnaryAsync{TRequest, TResponse}"/>, and also returns the response headers and trailers.</summary>
    public Task<GrpcCallResult<TResponse>> UnaryWithMetadataAsync<TRequest, TResponse>(string fullMethod, TRequest request, MessageParser<TResponse> parser, CallOptions options = default, CancellationToken cancellationToken = default)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
        => CallAsync(fullMethod, request, parser, options, captureMetadata: true, cancellationToken);

    private async Task<GrpcCallResult<TResponse>> CallAsync<TRequest, TResponse>(string fullMethod, TRequest request, MessageParser<TResponse> parser, CallOptions options, bool captureMetadata, CancellationToken cancellationToken)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        ArgumentException.ThrowIfNullOrEmpty(fullMethod);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(parser);
        if (options.Timeout is { } t && t <= TimeSpan.Zero)
        {
            throw new RpcException(StatusCode.DeadlineExceeded, GrpcStatusMapper.DeadlineExceededDetail);
        }

        using var message = CreateRequest(fullMethod, request, options);
        using var timeoutCts = options.Timeout is { } timeout ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken) : null;
        timeoutCts?.CancelAfter(options.Timeout!.Value);
        var token = timeoutCts?.Token ?? cancellationToken;
        try
        {
            using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, token).ConfigureAwait(false);
            return await ReadResponseAsync(response, parser, captureMetadata, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new RpcException(StatusCode.Cancelled, GrpcStatusMapper.CancelledDetail);
        }
        catch (OperationCanceledException)
        {
            // Our timeout, or HttpClient.Timeout.
            throw new RpcException(StatusCode.DeadlineExceeded, GrpcStatusMapper.DeadlineExceededDetail);
        }
        catch (HttpRequestException ex)
        {
            throw new RpcException(StatusCode.Unavailable, "Error starting gRPC call. " + ex.Message);
        }
        catch (IOException ex)
        {
            throw new RpcException(StatusCode.Unavailable, "Error reading the gRPC response. " + ex.Message);
        }
    }

    private static HttpRequestMessage CreateRequest<TRequest>(string fullMethod, TRequest request, CallOptions options)
        where TRequest : IMessage<TRequest>
    {
        var size = request.CalculateSize();
        var frame = new byte[GrpcProtocol.HeaderSize + size];
        GrpcProtocol.WriteHeader(frame, compressed: false, size);
        request.WriteTo(frame.AsSpan(GrpcProtocol.HeaderSize));

        var message = new HttpRequestMessage(HttpMethod.Post, new Uri(fullMethod, UriKind.Relative))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(frame),
        };
        message.Content.Headers.ContentType = GrpcContentType;
        var headers = message.Headers;
        headers.TryAddWithoutValidation("te", "trailers");
        headers.TryAddWithoutValidation(GrpcProtocol.AcceptEncodingHeader, GrpcProtocol.AcceptEncoding);
        if (options.Timeout is { } timeout)
        {
            headers.TryAddWithoutValidation(GrpcProtocol.TimeoutHeader, GrpcTimeout.Format(timeout));
        }

        if (options.Headers is { } metadata)
        {
            foreach (var (key, value) in metadata)
            {
                if (!headers.TryAddWithoutValidation(key, value))
                {
                    throw new ArgumentException($"Invalid request metadata key '{key}'.", nameof(options));
                }
            }
        }

        return message;
    }

    private async Task<GrpcCallResult<TResponse>> ReadResponseAsync<TResponse>(HttpResponseMessage response, MessageParser<TResponse> parser, bool captureMetadata, CancellationToken cancellationToken)
        where TResponse : IMessage<TResponse>
    {
        // A status in the headers is a trailers-only answer (no message).
        var headerStatus = GetHeader(response.Headers, GrpcProtocol.StatusHeader);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new RpcException(
                headerStatus is null ? MapHttpStatus(response.StatusCode) : ParseStatus(headerStatus),
                headerStatus is null
                    ? $"Bad gRPC response. HTTP status code: {(int)response.StatusCode}."
                    : PercentEncoding.Decode(GetHeader(response.Headers, GrpcProtocol.MessageHeader) ?? string.Empty),
                ToDictionary(response.Headers));
        }

        if (headerStatus is not null)
        {
            var headerDetail = PercentEncoding.Decode(GetHeader(response.Headers, GrpcProtocol.MessageHeader) ?? string.Empty);
            var status = ParseStatus(headerStatus);
            throw new RpcException(
                status == StatusCode.OK ? StatusCode.Internal : status,
                status == StatusCode.OK ? "Trailers-only OK response without a message." : headerDetail,
                ToDictionary(response.Headers));
        }

        var contentType = response.Content.Headers.ContentType?.MediaType;
        if (!GrpcProtocol.IsGrpcContentType(contentType))
        {
            throw new RpcException(StatusCode.Internal, $"Bad gRPC response. Invalid content-type value: {contentType}.");
        }

        TResponse? result = default;
        var hasMessage = false;
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var header = new byte[GrpcProtocol.HeaderSize];
            var read = await stream.ReadAtLeastAsync(header, GrpcProtocol.HeaderSize, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            if (read > 0)
            {
                if (read < GrpcProtocol.HeaderSize)
                {
                    throw new RpcException(StatusCode.Internal, "Incomplete response message.");
                }

                GrpcProtocol.ReadHeader(header, out var flag, out var length);
                if (length > (uint)MaxReceiveMessageSize)
                {
                    throw new RpcException(StatusCode.ResourceExhausted, $"Received message exceeds the maximum configured message size ({length} > {MaxReceiveMessageSize}).");
                }

                var payload = ArrayPool<byte>.Shared.Rent((int)length);
                try
                {
                    read = await stream.ReadAtLeastAsync(payload.AsMemory(0, (int)length), (int)length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                    if (read < (int)length)
                    {
                        throw new RpcException(StatusCode.Internal, "Incomplete response message.");
                    }

                    result = Parse(parser, payload.AsSpan(0, (int)length), flag, GetHeader(response.Headers, GrpcProtocol.EncodingHeader));
                    hasMessage = true;
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(payload);
                }

                // Read to the end: the trailers are only available after the body.
                if (await stream.ReadAsync(header, cancellationToken).ConfigureAwait(false) > 0)
                {
                    throw new RpcException(StatusCode.Internal, "Unary call returned more than one response message.");
                }
            }
        }

        var statusValue = GetHeader(response.TrailingHeaders, GrpcProtocol.StatusHeader);
        var trailerStatus = statusValue is null ? StatusCode.Unknown : ParseStatus(statusValue);
        var detail = statusValue is null
            ? "No grpc-status found on response."
            : PercentEncoding.Decode(GetHeader(response.TrailingHeaders, GrpcProtocol.MessageHeader) ?? string.Empty);
        if (trailerStatus != StatusCode.OK)
        {
            throw new RpcException(trailerStatus, detail, ToDictionary(response.TrailingHeaders));
        }

        if (!hasMessage)
        {
            throw new RpcException(StatusCode.Internal, "Unary call returned OK without a response message.", ToDictionary(response.TrailingHeaders));
        }

        return captureMetadata
            ? new GrpcCallResult<TResponse>(result!, ToDictionary(response.Headers), ToDictionary(response.TrailingHeaders))
            : new GrpcCallResult<TResponse>(result!, Empty, Empty);
    }

    private static readonly IReadOnlyDictionary<string, string> Empty = new Dictionary<string, string>(0);

    private TResponse Parse<TResponse>(MessageParser<TResponse> parser, ReadOnlySpan<byte> payload, byte flag, string? encoding)
        where TResponse : IMessage<TResponse>
    {
        try
        {
            if (flag == 0)
            {
                return parser.ParseFrom(payload);
            }

            if (flag != 1 || !string.Equals(encoding, GrpcProtocol.GzipEncoding, StringComparison.Ordinal))
            {
                throw new RpcException(StatusCode.Internal, $"Unsupported compressed response (flag {flag}, grpc-encoding '{encoding}').");
            }

            using var gzip = new GZipStream(new MemoryStream(payload.ToArray()), CompressionMode.Decompress);
            using var output = new MemoryStream();
            gzip.CopyTo(output);
            if (output.Length > MaxReceiveMessageSize)
            {
                throw new RpcException(StatusCode.ResourceExhausted, "Received message exceeds the maximum configured message size.");
            }

            return parser.ParseFrom(output.GetBuffer().AsSpan(0, (int)output.Length));
        }
        catch (InvalidProtocolBufferException)
        {
            throw new RpcException(StatusCode.Internal, "Failed to deserialize response message.");
        }
        catch (InvalidDataException)
        {
            throw new RpcException(StatusCode.Internal, "Failed to decompress response message.");
        }
    }

    private static string? GetHeader(HttpHeaders headers, string name)
        => headers.NonValidated.TryGetValues(name, out var values) ? values.ToString() : null;

    private static StatusCode ParseStatus(string value)
        => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var code) ? (StatusCode)code : StatusCode.Unknown;

    /// <summary>http-grpc-status-mapping.md: the status for an HTTP error without grpc-status.</summary>
    internal static StatusCode MapHttpStatus(HttpStatusCode status) => status switch
    {
        HttpStatusCode.BadRequest => StatusCode.Internal,
        HttpStatusCode.Unauthorized => StatusCode.Unauthenticated,
        HttpStatusCode.Forbidden => StatusCode.PermissionDenied,
        HttpStatusCode.NotFound => StatusCode.Unimplemented,
        HttpStatusCode.TooManyRequests or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout => StatusCode.Unavailable,
        _ => StatusCode.Unknown,
    };

    private static Dictionary<string, string> ToDictionary(HttpHeaders headers)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, values) in headers.NonValidated)
        {
            result[key.ToLowerInvariant()] = values.ToString();
        }

        return result;
    }
}
