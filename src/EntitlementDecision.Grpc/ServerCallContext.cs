using Microsoft.AspNetCore.Http;

namespace EntitlementDecision.Grpc;

/// <summary>
/// The server side of one call, handed to a handler. Response headers and trailers are buffered here and
/// written with the answer, so a handler that outlives its deadline cannot touch a recycled HTTP context.
/// </summary>
public sealed class ServerCallContext
{
    private HttpContext? _httpContext;
    private List<KeyValuePair<string, string>>? _responseHeaders;
    private List<KeyValuePair<string, string>>? _responseTrailers;

    internal ServerCallContext(HttpContext httpContext, string method, DateTimeOffset? deadline, CancellationToken cancellationToken)
    {
        _httpContext = httpContext;
        Method = method;
        Deadline = deadline;
        CancellationToken = cancellationToken;
    }

    /// <summary>The full method path, e.g. "/entitlements.v1.EntitlementDecisionService/CheckEntitlement".</summary>
    public string Method { get; }

    /// <summary>When the caller gives up (from grpc-timeout), or null when it sent none.</summary>
    public DateTimeOffset? Deadline { get; }

    /// <summary>Cancelled when the deadline passes or the client resets the stream.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>The underlying HTTP context while the call is in progress (null once the answer is sent).</summary>
    public HttpContext? HttpContext => _httpContext;

    internal List<KeyValuePair<string, string>>? ResponseHeaders => _responseHeaders;

    internal List<KeyValuePair<string, string>>? ResponseTrailers => _responseTrailers;

    /// <summary>A request metadata value (several values joined with ","), or null when absent.</summary>
    public string? GetRequestHeader(string name)
    {
        var http = _httpContext;
        if (http is null)
        {
            return null;
        }

        var values = http.Request.Headers[name];
        return values.Count == 0 ? null : values.ToString();
    }

    /// <summary>A binary ("-bin") request metadata value, base64-decoded (padded or not), or null when absent.</summary>
    public byte[]? GetRequestHeaderBytes(string name)
    {
        if (!name.EndsWith("-bin", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException("Binary metadata keys end with \"-bin\".", nameof(name));
        }

        var value = GetRequestHeader(name);
        if (value is null)
        {
            return null;
        }

        // Several values are joined with ","; a single value is the common case.
        var first = value.Split(',')[0].Trim();
        var padding = (4 - (first.Length % 4)) % 4;
        return Convert.FromBase64String(padding == 0 ? first : first + new string('=', padding));
    }

    /// <summary>Adds a response header, sent before the response message.</summary>
    public void AddResponseHeader(string name, string value)
    {
        ValidateMetadata(name, value);
        (_responseHeaders ??= new List<KeyValuePair<string, string>>(2)).Add(new(name, value));
    }

    /// <summary>Adds a response trailer, sent with grpc-status.</summary>
    public void AddResponseTrailer(string name, string value)
    {
        ValidateMetadata(name, value);
        (_responseTrailers ??= new List<KeyValuePair<string, string>>(2)).Add(new(name, value));
    }

    internal void Detach() => _httpContext = null;

    private static void ValidateMetadata(string name, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(value);
        if (name.StartsWith("grpc-", StringComparison.OrdinalIgnoreCase) || name[0] == ':'
            || name.Equals("content-type", StringComparison.OrdinalIgnoreCase)
            || name.Equals("te", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"'{name}' is reserved by the gRPC protocol.", nameof(name));
        }

        foreach (var c in name)
        {
            if (!(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '-' or '_' or '.'))
            {
                throw new ArgumentException($"Metadata key '{name}' must be lower-case ASCII: a-z, 0-9, '-', '_', '.'.", nameof(name));
            }
        }

        foreach (var c in value)
        {
            if (c < ' ' || c > '~')
            {
                throw new ArgumentException("Metadata values must be printable ASCII (base64-encode binary values under a \"-bin\" key).", nameof(value));
            }
        }
    }
}
