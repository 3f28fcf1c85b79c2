using EntitlementDecision.ControlPlane.Admin;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Notices;
using EntitlementDecision.ControlPlane.Invoices;
using EntitlementDecision.ControlPlane.Approvals;
using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Catalog;
using EntitlementDecision.ControlPlane.Entitlements;
using EntitlementDecision.ControlPlane.Metering;
using EntitlementDecision.ControlPlane.Reconciliation;
using EntitlementDecision.ControlPlane.Subscriptions;
using EntitlementDecision.ControlPlane.Tenants;
using EntitlementDecision.ControlPlane.Webhooks;

namespace EntitlementDecision.ControlPlane.Hosting;

/// <summary>Every HTTP endpoint of the control plane, by feature; the OpenAPI document lists them all.</summary>
internal static class ControlPlaneEndpoints
{
    public static void MapControlPlane(this WebApplication app)
    {
        app.MapCatalogEndpoints();
        app.MapTenantEndpoints();
        app.MapEntitlementEndpoints();
        app.MapWebhookEndpoints();
        app.MapWebhookOperatorEndpoints();
        app.MapSelfServiceBillingEndpoints();
        app.MapPlanChangeEndpoints();
        app.MapCheckoutPages();
        app.MapInvoices();
        app.MapNotices();
        app.MapOwnerTransfers();
        app.MapReconciliationEndpoints();
        app.MapAuditEndpoints();
        app.MapApprovals();
        app.MapWhoAmI();
        app.MapAdminConsole();
        app.MapUsageEndpoints();
        app.MapUsageIngestion();
        app.MapGet("/healthz", Health.CheckAsync).AllowAnonymous();
        app.MapControlPlaneOpenApi();
    }
}
