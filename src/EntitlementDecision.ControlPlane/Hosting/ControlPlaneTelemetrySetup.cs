using EntitlementDecision.ControlPlane.Observability;
using EntitlementDecision.Telemetry;

namespace EntitlementDecision.ControlPlane.Hosting;

/// <summary>What the host exports: the control plane's source and meters, the gauges, the webhook and Stripe budget meters.</summary>
internal static class ControlPlaneTelemetrySetup
{
    public static TelemetrySettings Settings => new("entitlement-controlplane", [ControlPlaneTelemetry.Name],
        [ControlPlaneTelemetry.Name, OperationalGauges.MeterName, Webhooks.WebhookMetrics.MeterName, EntitlementDecision.Stripe.Api.StripeRequestBudget.MeterName]) { Npgsql = true };
}
