using System.Security.Claims;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.Engine.Catalog;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using EntitlementDecision.ControlPlane.Tenants;
using EntitlementDecision.Engine;

namespace EntitlementDecision.ControlPlane.Entitlements;

/// <summary><c>GET /billing/entitlements</c>: the caller's own resolved entitlements.</summary>
internal static class EntitlementEndpoints
{
    public static void MapEntitlementEndpoints(this IEndpointRouteBuilder app) =>
        app.MapGet("/billing/entitlements", GetOwnEntitlements).RequireAuthorization(Policies.TenantMember);

    /// <summary>The caller's tenant (from the token only) in <paramref name="environment"/> (default production). 404 when there is no such row.</summary>
    public static async Task<Results<Ok<EntitlementDto>, ProblemHttpResult>> GetOwnEntitlements(
        string? environment, ClaimsPrincipal user, EntitlementsDbContext db, PlanCatalog catalog, Engine.Resolution.DunningPolicy dunning, TimeProvider time, CancellationToken ct)
    {
        var tenantId = user.TenantId()!;
        environment ??= Identifiers.DefaultEnvironment;
        var row = await db.Entitlements.AsNoTracking().FirstOrDefaultAsync(e => e.TenantId == tenantId && e.Environment == environment, ct);
        var tenant = await db.Tenants.AsNoTracking().FirstOrDefaultAsync(t => t.TenantId == tenantId, ct);
        if (row is null || tenant is null)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Entitlement not found", detail: $"No entitlement for your tenant in environment '{environment}'.");
        }

        return TypedResults.Ok(EntitlementDto.From(catalog, row, Tenant.Blocks(tenant.Status), time.GetUtcNow(), dunning));
    }
}
