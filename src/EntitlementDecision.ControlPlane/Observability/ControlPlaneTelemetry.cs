using System.Diagnostics;
using System.Diagnostics.Metrics;
namespace EntitlementDecision.ControlPlane.Observability;

/// <summary>
/// The control plane's spans (ActivitySource <c>EntitlementDecision.ControlPlane</c>) and metrics (Meter of the same name); names,
/// units and labels are listed in README.md ("Metrics"). A leaf: features record here, Hosting exports (see ControlPlaneTelemetrySetup).
/// </summary>
internal static class ControlPlaneTelemetry
{
    public const string Name = "EntitlementDecision.ControlPlane";

    /// <summary>Bucket bounds (seconds) of the pipeline's lag histograms: milliseconds to minutes (OpenTelemetry's defaults suit ms values).</summary>
    internal static readonly double[] LagBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600, 3600];
    public static readonly ActivitySource Source = new(Name);
    /// <summary>The control plane's one Meter (<see cref="Name"/>); <see cref="Audit.BillingKpis"/> creates its counters on it too.</summary>
    internal static readonly Meter Meter = new(Name);

    private static readonly Counter<long> ReconciliationMismatches = Meter.CreateCounter<long>("ed.reconciliation.mismatches", "{mismatch}", "Drift found by reconciliation, by field");
    private static readonly Histogram<double> TimeToCorrect = Meter.CreateHistogram<double>("ed.reconciliation.time_to_correct", "s", "Reconciliation: drift detected -> repaired",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400] });
    private static readonly Histogram<double> OutboxLag = Meter.CreateHistogram<double>("ed.outbox.publish_lag", "s", "Entitlement change committed -> snapshot published to Redis",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LagBuckets });
    private static readonly Counter<long> Denied = Meter.CreateCounter<long>("ed.http.denied", "{request}", "Requests refused 401 or 403, by status and endpoint (route template)");

    public static void MismatchFound(string field) => ReconciliationMismatches.Add(1, new KeyValuePair<string, object?>("field", field));

    /// <summary>Time from the drift's detection (its reconciliation run) to its repair.</summary>
    public static void DriftCorrected(TimeSpan elapsed) => TimeToCorrect.Record(Math.Max(0, elapsed.TotalSeconds));

    public static void OutboxPublished(TimeSpan lag) => OutboxLag.Record(Math.Max(0, lag.TotalSeconds));

    /// <summary>Counts 401/403 answers by route template (never the raw path: tenant ids stay out of labels).</summary>
    public static IApplicationBuilder UseDeniedRequestMetrics(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        await next(context);
        if (context.Response.StatusCode is StatusCodes.Status401Unauthorized or StatusCodes.Status403Forbidden)
        {
            var endpoint = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "(unmatched)";
            Denied.Add(1, new KeyValuePair<string, object?>("status", context.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new KeyValuePair<string, object?>("endpoint", context.Request.Method + " " + endpoint));
        }
    });
}
