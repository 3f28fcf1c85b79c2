using EntitlementDecision.ControlPlane.Data;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Auth;

/// <summary>
/// A blocked tenant's own tokens are refused everywhere at the control plane: after authentication, a request whose token carries a
/// tenant role for a suspended, deleting or deleted tenant gets 403 ProblemDetails naming the status (operators still act on it).
/// One indexed primary-key read per tenant request.
/// </summary>
internal static class TenantStatusGate
{
    public static IApplicationBuilder UseTenantStatusGate(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        var user = http.User;
        if (user.Identity?.IsAuthenticated == true && !user.IsOperator() && user.TenantId() is { } tenantId)
        {
            var db = http.RequestServices.GetRequiredService<EntitlementsDbContext>();
            var status = await db.Tenants.AsNoTracking().Where(t => t.TenantId == tenantId).Select(t => t.Status).FirstOrDefaultAsync(http.RequestAborted);
            if (status is not null && Tenant.Blocks(status))
            {
                await TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Tenant " + status,
                    detail: $"Tenant '{tenantId}' is {status}: its tokens are refused until an operator reactivates it.").ExecuteAsync(http);
                return;
            }
        }

        await next(http);
    });
}
