namespace EntitlementDecision.Sidecar;

/// <summary>
/// Sidecar settings, from environment variables:
/// ED_SIDECAR_URL (default http://127.0.0.1:50051; h2c, gRPC only; unix:/path/to/sidecar.sock: h2c on a Unix domain socket, for a product
/// container in the same pod), ED_REDIS (required, StackExchange.Redis configuration such as "127.0.0.1:6379"),
/// ED_SIDECAR_NEGATIVE_CACHE_MS (default 2000: how long an unknown tenant is remembered as unknown),
/// ED_SIDECAR_MAX_CLOCK_SKEW_S (default 300: how far in the future a usage timestamp may be),
/// ED_SIDECAR_MAX_VERSION_WAIT_MS (default 2000: how long a check with min_snapshot_version waits for that version),
/// ED_SIDECAR_RESPONSE_COMPRESSION ("" default: responses uncompressed; "gzip": gzip every response the client accepts gzip for),
/// ED_SIDECAR_ADMIN_URL (default: ED_SIDECAR_URL's host with port + 1000, e.g. http://127.0.0.1:51051, or that for a socket; "off": none; HTTP/1.1 with
/// /livez, /readyz and /metrics, so the gRPC port stays gRPC-only), ED_SIDECAR_TRACE_REQUESTS ("true": a span per inbound call).
/// </summary>
public sealed class SidecarOptions
{
    public string Url { get; set; } = "http://127.0.0.1:50051";

    public string Redis { get; set; } = "";

    public TimeSpan NegativeCacheTtl { get; set; } = TimeSpan.FromSeconds(2);

    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Longest wait of a check for its min_snapshot_version (also bounded by the call's deadline).</summary>
    public TimeSpan MaxVersionWait { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The admin listener (HTTP/1.1: /livez, /readyz, /metrics); null: none. Default: the gRPC host, port + 1000.</summary>
    public string? AdminUrl { get; set; }

    /// <summary>True: ASP.NET Core's span (and http.server metrics) for every inbound gRPC call; costs the hot path about a microsecond.</summary>
    public bool TraceRequests { get; set; }

    /// <summary>"gzip" or null: the grpc-encoding of responses.</summary>
    public string? ResponseCompression { get; set; }

    /// <summary>Reads the environment; throws <see cref="InvalidOperationException"/> naming the variable that is missing or invalid.</summary>
    public static SidecarOptions FromEnvironment(Func<string, string?> getVariable)
    {
        var options = new SidecarOptions
        {
            Url = getVariable("ED_SIDECAR_URL") is { Length: > 0 } url ? url : "http://127.0.0.1:50051",
            Redis = getVariable("ED_REDIS") is { Length: > 0 } redis
                ? redis
                : throw new InvalidOperationException("ED_REDIS is not set: give the Redis configuration, e.g. ED_REDIS=127.0.0.1:6379"),
        };
        if (getVariable("ED_SIDECAR_NEGATIVE_CACHE_MS") is { Length: > 0 } negative)
        {
            options.NegativeCacheTtl = TimeSpan.FromMilliseconds(ParseNonNegative("ED_SIDECAR_NEGATIVE_CACHE_MS", negative));
        }

        if (getVariable("ED_SIDECAR_MAX_CLOCK_SKEW_S") is { Length: > 0 } skew)
        {
            options.MaxClockSkew = TimeSpan.FromSeconds(ParseNonNegative("ED_SIDECAR_MAX_CLOCK_SKEW_S", skew));
        }

        if (getVariable("ED_SIDECAR_MAX_VERSION_WAIT_MS") is { Length: > 0 } wait)
        {
            options.MaxVersionWait = TimeSpan.FromMilliseconds(ParseNonNegative("ED_SIDECAR_MAX_VERSION_WAIT_MS", wait));
        }

        if (getVariable("ED_SIDECAR_RESPONSE_COMPRESSION") is { Length: > 0 } compression)
        {
            options.ResponseCompression = compression == "gzip"
                ? compression
                : throw new InvalidOperationException($"ED_SIDECAR_RESPONSE_COMPRESSION must be empty or 'gzip', got '{compression}'");
        }

        if (!Uri.TryCreate(options.Url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "unix") || (uri.Scheme == "unix" && uri.AbsolutePath.Length < 2))
        {
            throw new InvalidOperationException(
                $"ED_SIDECAR_URL '{options.Url}' must be an absolute http:// URL (h2c on localhost) or unix:/path/to/socket (h2c on a Unix domain socket)");
        }

        switch (getVariable("ED_SIDECAR_ADMIN_URL"))
        {
            case "off":
                break;
            case null or "":
                options.AdminUrl = uri.Scheme == "unix"
                    ? "http://127.0.0.1:51051"
                    : $"http://{uri.Host}:{(uri.Port + 1000 <= 65535 ? uri.Port + 1000 : uri.Port - 1000)}";
                break;
            case var admin when Uri.TryCreate(admin, UriKind.Absolute, out var adminUri) && adminUri.Scheme == "http" && (uri.Scheme == "unix" || adminUri.Port != uri.Port):
                options.AdminUrl = admin;
                break;
            case var admin:
                throw new InvalidOperationException($"ED_SIDECAR_ADMIN_URL '{admin}' must be 'off' or an absolute http:// URL on another port than ED_SIDECAR_URL");
        }

        options.TraceRequests = getVariable("ED_SIDECAR_TRACE_REQUESTS") switch
        {
            null or "" or "false" => false,
            "true" => true,
            var other => throw new InvalidOperationException($"ED_SIDECAR_TRACE_REQUESTS must be 'true' or 'false', got '{other}'"),
        };

        return options;
    }

    private static long ParseNonNegative(string name, string value) =>
        long.TryParse(value, out var n) && n >= 0 ? n : throw new InvalidOperationException($"{name} must be a whole number >= 0, got '{value}'");
}
