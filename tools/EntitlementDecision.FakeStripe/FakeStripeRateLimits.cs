namespace EntitlementDecision.FakeStripe;

/// <summary>
/// Stripe's API rate limits as the fake enforces them (docs.stripe.com/rate-limits), in requests per second of the fake's
/// <see cref="FakeStripeOptions.TimeProvider"/>, each second a fixed window. The account is the bearer key; its mode is live
/// for <c>sk_live_</c>/<c>rk_live_</c> keys, else test. A <c>/v1</c> request must fit both the account's budget and its
/// endpoint's (per account); beyond either it is answered 429 <c>rate_limit</c> and changes nothing (see README.md).
/// </summary>
public sealed record FakeStripeRateLimits
{
    /// <summary>Operations per second per test-mode (sandbox) account; Stripe: 25. At least 1.</summary>
    public int TestModeOperationsPerSecond { get; init; } = 25;

    /// <summary>Operations per second per live-mode account; Stripe: 100. At least 1.</summary>
    public int LiveModeOperationsPerSecond { get; init; } = 100;

    /// <summary>Requests per second per account to one endpoint (method and route, ids collapsed); Stripe's default: 25. At least 1.</summary>
    public int EndpointRequestsPerSecond { get; init; } = 25;

    /// <summary>
    /// The <c>Stripe-Should-Retry</c> header on a 429 from these limits: null (default) sends none, as Stripe does for rate
    /// limits (its SDKs do not retry them); true makes Stripe.net retry them.
    /// </summary>
    public bool? ShouldRetry { get; init; }

    /// <summary>True for a live-mode key (<c>sk_live_...</c>, <c>rk_live_...</c>).</summary>
    public static bool IsLiveKey(string apiKey) =>
        apiKey.StartsWith("sk_live_", StringComparison.Ordinal) || apiKey.StartsWith("rk_live_", StringComparison.Ordinal);

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(TestModeOperationsPerSecond, 1, nameof(TestModeOperationsPerSecond));
        ArgumentOutOfRangeException.ThrowIfLessThan(LiveModeOperationsPerSecond, 1, nameof(LiveModeOperationsPerSecond));
        ArgumentOutOfRangeException.ThrowIfLessThan(EndpointRequestsPerSecond, 1, nameof(EndpointRequestsPerSecond));
    }
}

/// <summary>Whether a request fits the rate limits, and if not which one it broke.</summary>
internal enum RateLimitOutcome
{
    Allowed,
    GlobalRate,
    EndpointRate,
}

/// <summary>Fixed one-second windows per account and per (account, endpoint). Not thread-safe: the state's lock guards it.</summary>
/// <remarks>
/// Not System.Threading.RateLimiting: its limiters read Stopwatch/TickCount, even when replenished by hand, so they cannot
/// follow a FakeTimeProvider.
/// </remarks>
internal sealed class RateLimitWindows(FakeStripeRateLimits limits)
{
    private readonly Dictionary<(string Account, string? Endpoint), Window> _windows = [];

    public FakeStripeRateLimits Limits => limits;

    /// <summary>Counts the request against both windows of <paramref name="second"/> when it fits both; a rejected request counts against neither.</summary>
    public RateLimitOutcome Admit(string apiKey, string endpoint, long second)
    {
        var account = Current((apiKey, null), second);
        var perEndpoint = Current((apiKey, endpoint), second);
        var accountLimit = FakeStripeRateLimits.IsLiveKey(apiKey) ? limits.LiveModeOperationsPerSecond : limits.TestModeOperationsPerSecond;
        if (account.Count >= accountLimit)
        {
            return RateLimitOutcome.GlobalRate;
        }

        if (perEndpoint.Count >= limits.EndpointRequestsPerSecond)
        {
            return RateLimitOutcome.EndpointRate;
        }

        account.Count++;
        perEndpoint.Count++;
        return RateLimitOutcome.Allowed;
    }

    private Window Current((string, string?) key, long second)
    {
        if (!_windows.TryGetValue(key, out var window))
        {
            window = new Window();
            _windows[key] = window;
        }

        if (window.Second != second)
        {
            window.Second = second;
            window.Count = 0;
        }

        return window;
    }

    private sealed class Window
    {
        public long Second = long.MinValue;
        public int Count;
    }
}

/// <summary>Stripe's answers to a request beyond a rate limit: the error body and the <c>Stripe-Rate-Limited-Reason</c> header.</summary>
internal static class RateLimitAnswer
{
    public const string DocUrl = "https://stripe.com/docs/error-codes/rate-limit";

    /// <summary><c>global-rate</c> or <c>endpoint-rate</c>, as documented on docs.stripe.com/rate-limits.</summary>
    public static string Reason(RateLimitOutcome outcome) => outcome switch
    {
        RateLimitOutcome.GlobalRate => "global-rate",
        RateLimitOutcome.EndpointRate => "endpoint-rate",
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "not a rate-limit rejection"),
    };

    /// <summary>429 <c>invalid_request_error</c> / <c>rate_limit</c> with Stripe's messages (the test-mode one for a test account's global limit).</summary>
    public static FakeStripeError Error(RateLimitOutcome outcome, string apiKey) =>
        new(429, "invalid_request_error",
            outcome == RateLimitOutcome.GlobalRate && !FakeStripeRateLimits.IsLiveKey(apiKey)
                ? "Testmode request rate limit exceeded, the rate limits in testmode are lower than livemode. You can learn more about rate limits here https://stripe.com/docs/rate-limits."
                : "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.",
            "rate_limit");
}

/// <summary>The endpoint of a request, as Stripe budgets it: method and route with object ids collapsed.</summary>
internal static class StripeEndpoint
{
    // Leading segments that group resources (e.g. /v1/checkout/sessions) rather than name one.
    private static readonly HashSet<string> Namespaces = new(StringComparer.Ordinal)
    {
        "billing", "billing_portal", "checkout", "climate", "entitlements", "financial_connections", "identity", "issuing",
        "radar", "reporting", "tax", "terminal", "test_helpers", "treasury",
    };

    /// <summary><c>GET /v1/subscriptions/sub_123</c> → <c>GET /v1/subscriptions/:id</c>; after <c>v1</c> and any namespace, resource names and ids alternate.</summary>
    public static string Of(string method, string path)
    {
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var start = segments is ["v1", ..] ? 1 : 0;
        while (start < segments.Length && Namespaces.Contains(segments[start]))
        {
            start++;
        }

        for (var i = start + 1; i < segments.Length; i += 2)
        {
            segments[i] = ":id";
        }

        return method + " /" + string.Join('/', segments);
    }
}
