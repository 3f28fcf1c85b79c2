using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.Engine.Catalog;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using static EntitlementDecision.ControlPlane.Http.Problems;

namespace EntitlementDecision.ControlPlane.Subscriptions;

/// <summary>
/// What checkout, the plan changes and the pending-change job share: the billing policy, the live statuses, the plan's price and
/// the loading of the tenant's row (a service class, so that no endpoint class serves as another's library).
/// </summary>
internal static class SelfServiceBilling
{
    /// <summary>Authorization policy: role owner or admin with a tenant_id claim.</summary>
    public const string OwnerOrAdminPolicy = "tenant-billing-admin";

    /// <summary>Subscription statuses of a live subscription (a second checkout would create a second subscription).</summary>
    internal static readonly IReadOnlySet<string> LiveStatuses = new HashSet<string>(StringComparer.Ordinal) { "active", "trialing", "past_due", "unpaid", "paused" };

    /// <summary>The plan's price a checkout or plan change uses (its first monthly price, else its first), or null when the plan
    /// is unknown (<paramref name="plan"/> null), not active, not purchasable or has no price.</summary>
    internal static CatalogPrice? PurchasablePrice(PlanCatalog catalog, string planId, out Plan? plan)
    {
        plan = catalog.TryGetPlan(planId, out var p) ? p : null;
        return plan is { Active: true, Purchasable: true } ? PrimaryPrice(plan) : null;
    }

    /// <summary>A plan's first price with interval month, else its first price; null without prices.</summary>
    internal static CatalogPrice? PrimaryPrice(Plan plan) =>
        plan.Prices.FirstOrDefault(x => x.Interval == "month") ?? plan.Prices.FirstOrDefault();

    /// <summary>The tenant and its entitlement row (tracked), or 404 (absent) / 409 (tenant suspended).</summary>
    internal static async Task<(Tenant? Tenant, Entitlement? Row, ProblemHttpResult? Problem)> LoadAsync(EntitlementsDbContext db, string tenantId, string environment, CancellationToken ct)
    {
        var tenant = await db.Tenants.AsNoTracking().FirstOrDefaultAsync(t => t.TenantId == tenantId, ct);
        if (tenant is null)
        {
            return (null, null, TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Tenant not found", detail: $"Tenant '{tenantId}' does not exist."));
        }

        if (tenant.Status != Tenant.Active)
        {
            return (tenant, null, Conflict($"Tenant '{tenantId}' is {tenant.Status}: billing changes are disabled until an operator resumes it."));
        }

        var row = await db.Entitlements.AsNoTracking().FirstOrDefaultAsync(e => e.TenantId == tenantId && e.Environment == environment, ct);
        return row is null
            ? (tenant, null, TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Entitlement not found", detail: $"No entitlement for your tenant in environment '{environment}'."))
            : (tenant, row, null);
    }
}
