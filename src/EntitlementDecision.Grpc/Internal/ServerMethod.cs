using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace EntitlementDecision.Grpc.Internal;

/// <summary>Handles the HTTP/2 request of one gRPC method.</summary>
internal abstract class ServerMethod
{
    protected ServerMethod(string path, ILogger logger)
    {
        Path = path;
        Logger = logger;
    }

    /// <summary>"/package.Service/Method".</summary>
    public string Path { get; }

    protected ILogger Logger { get; }

    public abstract Task HandleAsync(HttpContext httpContext);

    /// <summary>
    /// Checks what every gRPC request must satisfy (HTTP/2, content-type application/grpc). When it does not,
    /// answers with the HTTP status the spec asks for (415 for a wrong content-type) and returns false.
    /// </summary>
    protected bool ValidateRequest(HttpContext httpContext)
    {
        var request = httpContext.Request;
        if (!GrpcProtocol.IsGrpcContentType(request.ContentType))
        {
            Reject(httpContext, StatusCodes.Status415UnsupportedMediaType,
                request.ContentType is null ? "Content-Type is missing from the request." : $"Content-Type '{request.ContentType}' is not supported.");
            return false;
        }

        if (!HttpProtocol.IsHttp2(request.Protocol) && !HttpProtocol.IsHttp3(request.Protocol))
        {
            Reject(httpContext, StatusCodes.Status426UpgradeRequired, $"Request protocol '{request.Protocol}' is not supported.");
            return false;
        }

        return true;
    }

    private void Reject(HttpContext httpContext, int httpStatus, string detail)
    {
        Log.RejectedRequest(Logger, httpContext.Request.Path.Value ?? string.Empty, httpStatus);
        var response = httpContext.Response;
        response.StatusCode = httpStatus;
        var headers = response.Headers;
        headers.GrpcStatus = GrpcProtocol.StatusToString(StatusCode.Internal);
        headers.GrpcMessage = PercentEncoding.Encode(detail);
    }

    /// <summary>
    /// Sends a status without a message. Before anything was written this is a trailers-only answer:
    /// HTTP 200, content-type, grpc-status and grpc-message (and the handler's metadata) in one HEADERS frame
    /// that ends the stream.
    /// </summary>
    protected static void WriteStatus(HttpContext httpContext, ServerCallContext? call, StatusCode status, string detail)
    {
        var response = httpContext.Response;
        if (!response.HasStarted)
        {
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = GrpcProtocol.ContentType;
            var headers = response.Headers;
            headers.GrpcAcceptEncoding = GrpcProtocol.AcceptEncoding;
            if (call is not null)
            {
                AppendAll(headers, call.ResponseHeaders);
                AppendAll(headers, call.ResponseTrailers);
            }

            headers.GrpcStatus = GrpcProtocol.StatusToString(status);
            if (detail.Length > 0)
            {
                headers.GrpcMessage = PercentEncoding.Encode(detail);
            }

            return;
        }

        var trailers = httpContext.Features.Get<IHttpResponseTrailersFeature>()?.Trailers
            ?? throw new InvalidOperationException("The transport does not support response trailers (HTTP/2 is required).");
        if (call is not null)
        {
            AppendAll(trailers, call.ResponseTrailers);
        }

        trailers.GrpcStatus = GrpcProtocol.StatusToString(status);
        if (detail.Length > 0)
        {
            trailers.GrpcMessage = PercentEncoding.Encode(detail);
        }
    }

    protected static void AppendAll(IHeaderDictionary headers, List<KeyValuePair<string, string>>? values)
    {
        if (values is null)
        {
            return;
        }

        for (var i = 0; i < values.Count; i++)
        {
            headers.Append(values[i].Key, values[i].Value);
        }
    }
}

/// <summary>A method of a mapped service that has no handler, and the catch-all for unknown paths.</summary>
internal sealed class UnimplementedMethod : ServerMethod
{
    private readonly string _detail;

    public UnimplementedMethod(string path, string detail, ILogger logger)
        : base(path, logger)
    {
        _detail = detail;
    }

    public override Task HandleAsync(HttpContext httpContext)
    {
        if (ValidateRequest(httpContext))
        {
            Log.CallFailed(Logger, httpContext.Request.Path.Value ?? Path, StatusCode.Unimplemented, _detail);
            WriteStatus(httpContext, null, StatusCode.Unimplemented, _detail);
        }

        return Task.CompletedTask;
    }
}
