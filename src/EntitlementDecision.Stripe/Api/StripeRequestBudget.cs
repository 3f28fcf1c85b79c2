using System.Diagnostics.Metrics;
using System.Net;

namespace EntitlementDecision.Stripe.Api;

/// <summary>Who a Stripe API call is for; a lower value goes first when the request budget runs short.</summary>
public enum StripeCallPriority
{
    /// <summary>A customer or operator waits for it: checkout, portal, plan change, cancel (the default of any unmarked call).</summary>
    Customer = 0,

    /// <summary>A webhook event's re-read of its subscription.</summary>
    Reread = 1,

    /// <summary>Reconciliation, the catalog gate and other scheduled work.</summary>
    Background = 2,
}

/// <summary>
/// One budget of Stripe API requests for a whole process, shared by every caller, with priority: at most
/// <see cref="RequestsPerSecond"/> requests in any one second (Stripe's default limit is 25 requests/s per endpoint and 25 (test) or
/// 100 (live) operations/s per account; docs.stripe.com/rate-limits). A <see cref="StripeCallPriority.Customer"/> call waits only
/// for the budget itself; a re-read takes a request only while more than a fifth of the second's budget is left, background work
/// only while more than two fifths is, so a burst of re-reads never makes a checkout wait. A 429 from Stripe pauses re-reads and
/// background work for its <c>Retry-After</c> (1 s when absent); customer calls go on (Stripe.net retries them on
/// <c>Stripe-Should-Retry</c>).
/// </summary>
public sealed class StripeRequestBudget
{
    /// <summary>The meter of <c>ed_stripe_requests_total</c> (by priority) and <c>ed_stripe_rate_limited_total</c> (429s from Stripe).</summary>
    public const string MeterName = "EntitlementDecision.Stripe";

    private static readonly Meter Meter = new(MeterName);
    private static readonly Counter<long> Requests = Meter.CreateCounter<long>("ed_stripe_requests_total", description: "Stripe API requests sent, by priority");
    private static readonly Counter<long> RateLimited = Meter.CreateCounter<long>("ed_stripe_rate_limited_total", description: "Stripe API answers 429, by priority");

    // 11 segments of 100 ms: any one-second interval lies within one 1.1 s window, so no second ever holds more than the limit.
    // Counted on the TimeProvider (the BCL's limiters measure real elapsed time, which a test clock cannot move).
    private static readonly TimeSpan Segment = TimeSpan.FromMilliseconds(100);
    private const int Segments = 11;

    private readonly object _lock = new();
    private readonly int[] _counts = new int[Segments];
    private readonly TimeProvider _time;
    private readonly int _rereadReserve;
    private readonly int _backgroundReserve;
    private long _segment; // index (time / Segment) of the newest counted segment
    private long _pausedUntilTicks;

    /// <param name="requestsPerSecond">Requests in any one second, 1..1000 (<c>ED_STRIPE_REQUESTS_PER_SECOND</c>, default 25).</param>
    /// <param name="time">The clock of the window and of pauses.</param>
    public StripeRequestBudget(int requestsPerSecond, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(requestsPerSecond, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(requestsPerSecond, 1000);
        ArgumentNullException.ThrowIfNull(time);
        RequestsPerSecond = requestsPerSecond;
        _time = time;
        _rereadReserve = Math.Max(1, requestsPerSecond / 5);
        _backgroundReserve = Math.Max(2, 2 * requestsPerSecond / 5);
    }

    /// <summary>The budget: requests in any one second.</summary>
    public int RequestsPerSecond { get; }

    /// <summary>Requests the window still allows now.</summary>
    public int Available
    {
        get
        {
            lock (_lock)
            {
                Roll();
                return RequestsPerSecond - _counts.Sum();
            }
        }
    }

    /// <summary>
    /// Waits for room for one request of <paramref name="priority"/> and counts it. Throws <see cref="OperationCanceledException"/>
    /// when <paramref name="ct"/> ends first.
    /// </summary>
    public async ValueTask AcquireAsync(StripeCallPriority priority, CancellationToken ct)
    {
        while (!TryTake(priority))
        {
            await Task.Delay(Segment / 4, _time, ct);
        }

        Requests.Add(1, new KeyValuePair<string, object?>("priority", Name(priority)));
    }

    /// <summary>Stripe answered 429: re-reads and background work wait <paramref name="retryAfter"/> (customer calls do not).</summary>
    public void RateLimitedByStripe(StripeCallPriority priority, TimeSpan retryAfter)
    {
        RateLimited.Add(1, new KeyValuePair<string, object?>("priority", Name(priority)));
        var until = (_time.GetUtcNow() + retryAfter).UtcTicks;
        lock (_lock)
        {
            _pausedUntilTicks = Math.Max(_pausedUntilTicks, until);
        }
    }

    /// <summary>Counts one request of <paramref name="priority"/> when the window has room for it now (above the priority's reserve).</summary>
    internal bool TryTake(StripeCallPriority priority)
    {
        var reserve = priority switch
        {
            StripeCallPriority.Customer => 0,
            StripeCallPriority.Reread => _rereadReserve,
            _ => _backgroundReserve,
        };
        lock (_lock)
        {
            if (priority != StripeCallPriority.Customer && _time.GetUtcNow().UtcTicks < _pausedUntilTicks)
            {
                return false;
            }

            Roll();
            if (RequestsPerSecond - _counts.Sum() <= reserve)
            {
                return false;
            }

            _counts[(int)(_segment % Segments)]++;
            return true;
        }
    }

    // Moves the window to the current segment, forgetting the segments that left it.
    private void Roll()
    {
        var now = _time.GetUtcNow().UtcTicks / Segment.Ticks;
        for (var s = Math.Max(_segment + 1, now - Segments + 1); s <= now; s++)
        {
            _counts[(int)(s % Segments)] = 0;
        }

        _segment = Math.Max(_segment, now);
    }

    private static string Name(StripeCallPriority priority) => priority switch
    {
        StripeCallPriority.Customer => "customer",
        StripeCallPriority.Reread => "reread",
        _ => "background",
    };
}

/// <summary>The priority of the Stripe calls made in the current async flow (<see cref="StripeCallPriority.Customer"/> unless set).</summary>
public static class StripeCallContext
{
    private static readonly AsyncLocal<StripeCallPriority> Current = new();

    /// <summary>The priority of calls made now.</summary>
    public static StripeCallPriority Priority => Current.Value;

    /// <summary>Marks the calls made until the returned scope is disposed (restores the previous priority).</summary>
    public static IDisposable Use(StripeCallPriority priority)
    {
        var previous = Current.Value;
        Current.Value = priority;
        return new Restore(previous);
    }

    private sealed class Restore(StripeCallPriority previous) : IDisposable
    {
        public void Dispose() => Current.Value = previous;
    }
}

/// <summary>
/// The HttpClient handler that spends <see cref="StripeRequestBudget"/>: every attempt (Stripe.net's own retries included) takes one
/// request at the flow's <see cref="StripeCallContext.Priority"/>; a 429 answer pauses lower-priority work for its <c>Retry-After</c>.
/// </summary>
public sealed class StripeBudgetHandler(StripeRequestBudget budget) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var priority = StripeCallContext.Priority;
        await budget.AcquireAsync(priority, cancellationToken);
        var response = await base.SendAsync(request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.TooManyRequests)
        {
            var retryAfter = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1);
            budget.RateLimitedByStripe(priority, retryAfter < TimeSpan.Zero ? TimeSpan.FromSeconds(1) : retryAfter);
        }

        return response;
    }
}
