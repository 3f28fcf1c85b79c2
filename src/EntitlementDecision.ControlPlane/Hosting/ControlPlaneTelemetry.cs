using System.Diagnostics;
using System.Diagnostics.Metrics;
using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.Telemetry;

namespace EntitlementDecision.ControlPlane.Hosting;

/// <summary>
/// The control plane's spans (ActivitySource <c>EntitlementDecision.ControlPlane</c>) and metrics (Meter of the same name, plus
/// <see cref="Webhooks.WebhookMetrics.MeterName"/>); names, units and labels are listed in README.md ("Metrics").
/// </summary>
internal static class ControlPlaneTelemetry
{
    public const string Name = "EntitlementDecision.ControlPlane";

    /// <summary>Bucket bounds (seconds) of the pipeline's lag histograms: milliseconds to minutes (OpenTelemetry's defaults suit ms values).</summary>
    internal static readonly double[] LagBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600, 3600];
    public static readonly ActivitySource Source = new(Name);
    private static readonly Meter Meter = new(Name);

    private static readonly Counter<long> CheckoutSessions = Meter.CreateCounter<long>("ed.billing.checkout_sessions", "{session}", "Stripe Checkout sessions by stage: created, completed");
    private static readonly Counter<long> Transitions = Meter.CreateCounter<long>("ed.billing.subscription_transitions", "{transition}", "Subscription status changes (from, to; 'none' before the first subscription)");
    private static readonly Counter<long> PaymentsFailed = Meter.CreateCounter<long>("ed.billing.payments_failed", "{payment}", "Failed invoice payments (each attempt)");
    private static readonly Counter<long> PlanChanges = Meter.CreateCounter<long>("ed.billing.plan_changes", "{change}", "Plan changes by kind: upgrade, downgrade_scheduled, downgrade, cancel_scheduled, changed");
    private static readonly Counter<long> ReconciliationMismatches = Meter.CreateCounter<long>("ed.reconciliation.mismatches", "{mismatch}", "Drift found by reconciliation, by field");
    private static readonly Histogram<double> TimeToCorrect = Meter.CreateHistogram<double>("ed.reconciliation.time_to_correct", "s", "Reconciliation: drift detected -> repaired",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400] });
    private static readonly Histogram<double> OutboxLag = Meter.CreateHistogram<double>("ed.outbox.publish_lag", "s", "Entitlement change committed -> snapshot published to Redis",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LagBuckets });
    private static readonly Counter<long> Denied = Meter.CreateCounter<long>("ed.http.denied", "{request}", "Requests refused 401 or 403, by status and endpoint (route template)");

    public static TelemetrySettings Settings => new("entitlement-controlplane", [Name], [Name, OperationalGauges.MeterName, Webhooks.WebhookMetrics.MeterName, EntitlementDecision.Stripe.Api.StripeRequestBudget.MeterName]) { Npgsql = true };

    /// <summary>Billing metrics derived from an audit entry (every billing state change is audited); <see cref="AuditLog.Add"/> calls it after the entry commits.</summary>
    public static void OnAudit(string action, object? before, object? after)
    {
        switch (action)
        {
            case "billing.checkout_session_created": CheckoutSessions.Add(1, new KeyValuePair<string, object?>("stage", "created")); return;
            case "billing.plan_upgraded": PlanChange("upgrade"); break;
            case "billing.downgrade_scheduled": PlanChange("downgrade_scheduled"); return;
            case "billing.downgrade_applied": PlanChange("downgrade"); break;
            case "billing.cancel_at_period_end": PlanChange("cancel_scheduled"); return;
        }

        if (action == "checkout.session.completed")
        {
            CheckoutSessions.Add(1, new KeyValuePair<string, object?>("stage", "completed"));
        }

        if (after is not EntitlementAuditView a)
        {
            return;
        }

        var b = before as EntitlementAuditView;
        if (a.StripeStatus is not null && a.StripeStatus != b?.StripeStatus)
        {
            Transitions.Add(1, new KeyValuePair<string, object?>("from", b?.StripeStatus ?? "none"), new KeyValuePair<string, object?>("to", a.StripeStatus));
        }

        if (a.DunningAttempts > (b?.DunningAttempts ?? 0))
        {
            PaymentsFailed.Add(a.DunningAttempts - (b?.DunningAttempts ?? 0));
        }

        if (b?.PlanId is not null && a.PlanId != b.PlanId && action is not ("billing.plan_upgraded" or "billing.downgrade_applied"))
        {
            PlanChange("changed");
        }
    }

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

    private static void PlanChange(string kind) => PlanChanges.Add(1, new KeyValuePair<string, object?>("kind", kind));
}
