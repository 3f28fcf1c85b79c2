using System.Security.Claims;
using Microsoft.AspNetCore.Http;

namespace EntitlementDecision.Client;

/// <summary>What the caller does for a feature when the sidecar cannot answer (unreachable, deadline passed, overloaded).</summary>
public enum FallbackMode
{
    /// <summary>Deny (allowed=false, usage not accepted). The default: nothing is granted that was not decided.</summary>
    FailClosed = 0,

    /// <summary>Allow (allowed=true, usage accepted but not recorded): for features whose outage must not stop the product.</summary>
    FailOpen = 1,
}

/// <summary>
/// Settings of <see cref="IEntitlementClient"/>: where the sidecar is, the default deadline per call, the environment, and the
/// caller-side degradation policy. Bound by <c>services.AddEntitlementDecisionClient(o => ...)</c>.
/// </summary>
public sealed class EntitlementClientOptions
{
    /// <summary>The sidecar's address: <c>http://127.0.0.1:50051</c> (h2c) by default, or <c>unix:/path/to/sidecar.sock</c> (Unix domain socket).</summary>
    public Uri Address { get; set; } = new("http://127.0.0.1:50051");

    /// <summary>Deadline of each call unless the caller's token ends sooner; default 500 ms (the sidecar answers in microseconds).</summary>
    public TimeSpan Deadline { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Environment sent with every call that names none; default "production".</summary>
    public string Environment { get; set; } = "production";

    /// <summary>Fallback for features not listed in <see cref="Fallbacks"/>; default <see cref="FallbackMode.FailClosed"/>.</summary>
    public FallbackMode DefaultFallback { get; set; } = FallbackMode.FailClosed;

    /// <summary>Per feature key: what to answer when the sidecar cannot (e.g. <c>["projects"] = FallbackMode.FailOpen</c>).</summary>
    public IDictionary<string, FallbackMode> Fallbacks { get; } = new Dictionary<string, FallbackMode>(StringComparer.Ordinal);

    /// <summary>
    /// For <c>RequireEntitlement</c>: the tenant of a request, or null when it has none (answered 401). Default: the
    /// authenticated user's <c>tenant_id</c> claim. Never take it from a header a client controls unless a gateway sets it.
    /// </summary>
    public Func<HttpContext, string?> ResolveTenant { get; set; } = context => context.User.FindFirstValue("tenant_id");

    /// <summary>The fallback mode of <paramref name="featureKey"/>.</summary>
    public FallbackMode FallbackFor(string featureKey) =>
        Fallbacks.TryGetValue(featureKey, out var mode) ? mode : DefaultFallback;
}
