using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;

namespace EntitlementDecision.ControlPlane.Auth;

/// <summary><c>GET /auth/whoami</c>: <c>{ subject, role, tenant_id (null for staff tokens without one), expires_at }</c> of the bearer token.</summary>
internal sealed record WhoAmIDto(string Subject, string Role, string? TenantId, DateTimeOffset? ExpiresAt);

/// <summary>Who the caller's token says it is (any role): the console's sign-in check, and a debugging aid for integrators.</summary>
internal static class WhoAmI
{
    public static void MapWhoAmI(this IEndpointRouteBuilder app) =>
        app.MapGet("/auth/whoami", Get).RequireAuthorization(Policies.AnyRole);

    public static Ok<WhoAmIDto> Get(ClaimsPrincipal user)
    {
        var expires = user.FindFirst("exp")?.Value is { } exp && long.TryParse(exp, out var seconds) ? DateTimeOffset.FromUnixTimeSeconds(seconds) : (DateTimeOffset?)null;
        return TypedResults.Ok(new WhoAmIDto(user.Subject(), user.FindFirst("role")?.Value ?? "", user.TenantId(), expires));
    }
}
