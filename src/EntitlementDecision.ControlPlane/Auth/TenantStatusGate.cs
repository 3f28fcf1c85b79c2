using EntitlementDecision.ControlPlane.Data;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Auth;

/// <summary>
/// After authentication, for a token with a tenant role, one primary-key read of the tenant: a suspended, deleting or deleted
/// tenant's tokens get 403 ProblemDetails naming the status (operators still act on it); and once billing ownership was transferred
/// (<see cref="Tenant.OwnerSubject"/>), the role is the one the tenant records: owner for that subject (also when its token says
/// admin), admin for any other owner-role token.
/// </summary>
internal static class TenantStatusGate
{
    public static IApplicationBuilder UseTenantStatusGate(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        var user = http.User;
        if (user.Identity?.IsAuthenticated == true && !user.IsStaff() && user.TenantId() is { } tenantId)
        {
            var db = http.RequestServices.GetRequiredService<EntitlementsDbContext>();
            var tenant = await db.Tenants.AsNoTracking().Where(t => t.TenantId == tenantId).Select(t => new { t.Status, t.OwnerSubject }).FirstOrDefaultAsync(http.RequestAborted);
            var status = tenant?.Status;
            if (tenant?.OwnerSubject is { } owner)
            {
                ApplyOwnership(user, owner);
            }

            if (status is not null && Tenant.Blocks(status))
            {
                await TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Tenant " + status,
                    detail: $"Tenant '{tenantId}' is {status}: its tokens are refused until an operator reactivates it.").ExecuteAsync(http);
                return;
            }
        }

        await next(http);
    });

    private static void ApplyOwnership(System.Security.Claims.ClaimsPrincipal user, string ownerSubject)
    {
        var role = user.FindFirst("role");
        var isOwner = string.Equals(user.Subject(), ownerSubject, StringComparison.Ordinal);
        var recorded = role?.Value switch
        {
            Roles.Owner or Roles.Admin when isOwner => Roles.Owner,
            Roles.Owner => Roles.Admin,
            _ => null,
        };
        if (recorded is not null && recorded != role!.Value && role.Subject is System.Security.Claims.ClaimsIdentity identity)
        {
            identity.RemoveClaim(role);
            identity.AddClaim(new System.Security.Claims.Claim("role", recorded));
        }
    }
}
