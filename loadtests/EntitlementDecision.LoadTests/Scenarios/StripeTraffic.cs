using System.Diagnostics;
using System.Globalization;

namespace EntitlementDecision.LoadTests.Scenarios;

/// <summary>
/// The Stripe requests the fake recorded between two marker requests (<see cref="FakeStripeClient.MarkAsync"/>): counts by route,
/// 429 answers, and the rate per window between consecutive markers (requests/s; the markers themselves not counted).
/// </summary>
/// <param name="Total">Requests between the first and the last marker.</param>
/// <param name="ByRoute">Requests per route (<c>GET /v1/subscriptions/{id}</c>: the control plane's re-reads), most first.</param>
/// <param name="TooMany">Requests answered 429.</param>
/// <param name="CheckoutTooMany">429s on the routes a checkout calls (<see cref="CheckoutRoutes"/>).</param>
/// <param name="Seconds">From the first marker to the last.</param>
/// <param name="PeakPerSecond">The busiest window between two consecutive markers (about 1 s apart), in requests/s; a window shorter
/// than 1 s counts as 1 s: Stripe's budget is per second, and a few requests in a short window are no rate.</param>
internal sealed record StripeTraffic(long Total, IReadOnlyList<(string Route, long Count)> ByRoute, long TooMany, long CheckoutTooMany, double Seconds, double PeakPerSecond)
{
    /// <summary>The Stripe calls of <c>POST /billing/checkout</c>: the customer (once per tenant), the trial check, the session.</summary>
    public static readonly IReadOnlySet<string> CheckoutRoutes = new HashSet<string>(StringComparer.Ordinal)
    {
        "POST /v1/customers", "GET /v1/subscriptions", "POST /v1/checkout/sessions",
    };

    /// <summary>Requests/s from the first marker to the last (at least 1 s, as <see cref="PeakPerSecond"/>'s windows).</summary>
    public double MeanPerSecond => Total / Math.Max(Seconds, 1);

    /// <param name="log">The fake's whole request log, in arrival order.</param>
    /// <param name="marks">The markers sent, in order, each with the <see cref="Stopwatch"/> timestamp of its answer.</param>
    public static StripeTraffic From(IReadOnlyList<FakeRequest> log, IReadOnlyList<(long Marker, long Timestamp)> marks)
    {
        var at = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < log.Count; i++)
        {
            if (log[i].Path.StartsWith(FakeStripeClient.MarkerPrefix, StringComparison.Ordinal))
            {
                at[log[i].Path] = i;
            }
        }

        int IndexOf(long marker) => at.TryGetValue(FakeStripeClient.MarkerPrefix + marker.ToString(CultureInfo.InvariantCulture), out var i)
            ? i
            : throw new InvalidOperationException($"marker {marker} is not in the fake's request log (was it cleared?)");

        var byRoute = new Dictionary<string, long>(StringComparer.Ordinal);
        var windows = new List<(long Count, double Seconds)>();
        long tooMany = 0, checkoutTooMany = 0;
        for (var w = 1; w < marks.Count; w++)
        {
            long inWindow = 0;
            var end = IndexOf(marks[w].Marker);
            for (var i = IndexOf(marks[w - 1].Marker) + 1; i < end; i++)
            {
                var r = log[i];
                if (r.Path.StartsWith(FakeStripeClient.MarkerPrefix, StringComparison.Ordinal))
                {
                    continue;
                }

                var route = RouteOf(r);
                byRoute[route] = byRoute.GetValueOrDefault(route) + 1;
                inWindow++;
                if (r.Status == 429)
                {
                    tooMany++;
                    checkoutTooMany += CheckoutRoutes.Contains(route) ? 1 : 0;
                }
            }

            windows.Add((inWindow, (double)(marks[w].Timestamp - marks[w - 1].Timestamp) / Stopwatch.Frequency));
        }

        // The last window (the drained queue ends it, not the 1 s sampler) joins the one before when shorter than 1 s.
        if (windows.Count > 1 && windows[^1].Seconds < 1)
        {
            windows[^2] = (windows[^2].Count + windows[^1].Count, windows[^2].Seconds + windows[^1].Seconds);
            windows.RemoveAt(windows.Count - 1);
        }

        var total = windows.Sum(x => x.Count);
        var seconds = windows.Sum(x => x.Seconds);
        var peak = windows.Select(x => x.Count / Math.Max(x.Seconds, 1)).DefaultIfEmpty(0).Max();
        return new StripeTraffic(total, [.. byRoute.OrderByDescending(p => p.Value).Select(p => (p.Key, p.Value))], tooMany, checkoutTooMany, seconds, peak);
    }

    /// <summary>One line for the report: totals, rates, routes, 429s.</summary>
    public string Describe()
    {
        var routes = ByRoute.Count == 0 ? "none" : string.Join(", ", ByRoute.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Route} {r.Count:N0}")));
        return string.Create(CultureInfo.InvariantCulture,
            $"{Total:N0} requests in {Seconds:0.0} s (mean {MeanPerSecond:0.0}/s, peak {PeakPerSecond:0.0}/s in a ~1 s window): {routes}; answered 429: {TooMany:N0} (on checkout's calls: {CheckoutTooMany:N0})");
    }

    // Routes with the object id folded in, so that every re-read counts under one route.
    private static string RouteOf(FakeRequest r) => (r.Method, r.Path) switch
    {
        ("GET", "/v1/subscriptions") => "GET /v1/subscriptions",
        ("GET" or "POST", var p) when p.StartsWith("/v1/subscriptions/", StringComparison.Ordinal) => r.Method + " /v1/subscriptions/{id}",
        (_, "/v1/customers" or "/v1/checkout/sessions" or "/v1/billing_portal/sessions" or "/v1/invoices" or "/v1/events" or "/v1/prices") => r.Method + " " + r.Path,
        _ => r.Method + " /v1/(other)",
    };
}
