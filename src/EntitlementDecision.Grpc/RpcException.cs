namespace EntitlementDecision.Grpc;

/// <summary>
/// A gRPC status other than OK. Thrown by handlers to answer with that status (the detail is sent as
/// grpc-message, so it must be safe to show to the caller), and by <see cref="GrpcClient"/> for a non-OK answer.
/// </summary>
public sealed class RpcException : Exception
{
    private static readonly IReadOnlyDictionary<string, string> NoTrailers = new Dictionary<string, string>(0);

    public RpcException(StatusCode status, string detail)
        : this(status, detail, NoTrailers)
    {
    }

    public RpcException(StatusCode status, string detail, IReadOnlyDictionary<string, string> trailers)
        : base($"Status(StatusCode=\"{status}\", Detail=\"{detail}\")")
    {
        ArgumentNullException.ThrowIfNull(detail);
        ArgumentNullException.ThrowIfNull(trailers);
        Status = status;
        Detail = detail;
        Trailers = trailers;
    }

    /// <summary>The status code.</summary>
    public StatusCode Status { get; }

    /// <summary>The status message (grpc-message, decoded).</summary>
    public string Detail { get; }

    /// <summary>
    /// Client side: the response trailers (or, for a trailers-only answer, the response headers) as received,
    /// keys in lower case. Empty on the server side.
    /// </summary>
    public IReadOnlyDictionary<string, string> Trailers { get; }
}
