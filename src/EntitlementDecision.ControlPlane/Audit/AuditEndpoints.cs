using System.Security.Claims;
using System.Text.Json;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Audit;

/// <summary>One audit entry: <c>{ id, tenant_id, environment, at, actor, action, before, after, cause }</c>; before/after are the JSON recorded (or null).</summary>
internal sealed record AuditEntryDto(long Id, string TenantId, string? Environment, DateTimeOffset At, string Actor, string Action, JsonElement? Before, JsonElement? After, string Cause)
{
    public static AuditEntryDto From(AuditEntry e) =>
        new(e.Id, e.TenantId, e.Environment, e.At, e.Actor, e.Action, Parse(e.Before), Parse(e.After), e.Cause);

    private static JsonElement? Parse(string? json) => json is null ? null : JsonSerializer.Deserialize<JsonElement>(json);
}

/// <summary>A page of audit entries, newest first; <c>next_cursor</c>: pass as <c>before_id</c> for the next page (null at the end).</summary>
internal sealed record AuditPage(IReadOnlyList<AuditEntryDto> Entries, long? NextCursor);

/// <summary><c>GET /tenants/{id}/audit</c>: the tenant's audit trail.</summary>
internal static class AuditEndpoints
{
    public static void MapAuditEndpoints(this IEndpointRouteBuilder app) =>
        app.MapGet("/tenants/{tenantId}/audit", List).RequireAuthorization(Policies.AnyRole);

    /// <summary>
    /// Entries of <paramref name="tenantId"/>, newest first. Who: platform staff (operator, support) for any tenant; the owner or an admin of that tenant
    /// (members and other tenants: 403). Filters: <c>from</c>/<c>to</c> (ISO 8601, inclusive/exclusive), <c>action</c> (exact,
    /// e.g. <c>customer.subscription.updated</c>, <c>dunning.reminder</c>), <c>environment</c>; paging: <c>limit</c> 1-500
    /// (default 100) and <c>before_id</c>. 400 ProblemDetails for a bad filter; 404 for an unknown tenant. Tenant
    /// <see cref="AuditLog.SystemTenant"/> (staff only): platform events such as <c>redis.healed</c>.
    /// </summary>
    public static async Task<Results<Ok<AuditPage>, ProblemHttpResult>> List(
        string tenantId, DateTimeOffset? from, DateTimeOffset? to, string? action, string? environment, int? limit,
        [Microsoft.AspNetCore.Mvc.FromQuery(Name = "before_id")] long? beforeId,
        ClaimsPrincipal user, EntitlementsDbContext db, CancellationToken ct)
    {
        var role = user.FindFirst("role")?.Value;
        if (!user.MayReadTenant(tenantId) || role == Roles.Member)
        {
            return TypedResults.Problem(statusCode: 403, title: "Forbidden", detail: "The audit trail is for platform staff and the tenant's owner or admins.");
        }

        if (limit is < 1 or > 500)
        {
            return TypedResults.Problem(statusCode: 400, title: "Bad limit", detail: "limit must be between 1 and 500.");
        }

        if (from is not null && to is not null && from > to)
        {
            return TypedResults.Problem(statusCode: 400, title: "Bad range", detail: "from must not be after to.");
        }

        if (tenantId != AuditLog.SystemTenant && !await db.Tenants.AnyAsync(t => t.TenantId == tenantId, ct))
        {
            return TypedResults.Problem(statusCode: 404, title: "Tenant not found", detail: $"No tenant '{tenantId}'.");
        }

        var query = db.AuditEntries.AsNoTracking().Where(a => a.TenantId == tenantId);
        if (from is { } f)
        {
            var fu = f.ToUniversalTime();
            query = query.Where(a => a.At >= fu);
        }

        if (to is { } t)
        {
            var tu = t.ToUniversalTime();
            query = query.Where(a => a.At < tu);
        }

        if (action is not null)
        {
            query = query.Where(a => a.Action == action);
        }

        if (environment is not null)
        {
            query = query.Where(a => a.Environment == environment);
        }

        if (beforeId is { } b)
        {
            query = query.Where(a => a.Id < b);
        }

        var take = limit ?? 100;
        var rows = await query.OrderByDescending(a => a.Id).Take(take + 1).ToListAsync(ct);
        var page = rows.Take(take).Select(AuditEntryDto.From).ToList();
        return TypedResults.Ok(new AuditPage(page, rows.Count > take ? rows[take - 1].Id : null));
    }
}
