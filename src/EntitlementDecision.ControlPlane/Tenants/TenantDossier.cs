using System.Text.Json;
using EntitlementDecision.ControlPlane.Approvals;
using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Entitlements;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Resolution;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Tenants;

/// <summary>A policy in force and the SHA-256 of its canonical form.</summary>
internal sealed record PolicyDto(string Name, string Summary, string Hash);

/// <summary>
/// <c>GET /tenants/{id}/dossier</c> (operators): <c>{ tenant: { tenant_id, name, status, created_at, deletion_requested_at,
/// purge_after, purged_at }, environments: [EntitlementDto], policies: [{ name, summary, hash }], provisioning_ms, lifecycle:
/// [audit entries tenant.* and approval.*, oldest first], approvals: [ApprovalDto] }</c>.
/// </summary>
internal sealed record DossierDto(
    DossierTenantDto Tenant, IReadOnlyList<EntitlementDto> Environments, IReadOnlyList<PolicyDto> Policies, double? ProvisioningMs,
    IReadOnlyList<AuditEntryDto> Lifecycle, IReadOnlyList<ApprovalDto> Approvals);

internal sealed record DossierTenantDto(
    string TenantId, string Name, string Status, DateTimeOffset CreatedAt, DateTimeOffset? DeletionRequestedAt, DateTimeOffset? PurgeAfter, DateTimeOffset? PurgedAt);

/// <summary>The tenant dossier: identity, per-environment entitlements and Stripe references, policies in force, lifecycle history.</summary>
internal static class TenantDossier
{
    public static async Task<Results<Ok<DossierDto>, ProblemHttpResult>> Get(
        string tenantId, EntitlementsDbContext db, PlanCatalog catalog, DunningPolicy dunning, GovernanceOptions governance, TimeProvider time, CancellationToken ct) =>
        await BuildAsync(tenantId, db, catalog, dunning, governance, time, ct) is { } dossier
            ? TypedResults.Ok(dossier)
            : TypedResults.Problem(statusCode: 404, title: "Tenant not found", detail: $"No tenant '{tenantId}'.");

    /// <summary>The dossier of <paramref name="tenantId"/>, or null for an unknown tenant.</summary>
    internal static async Task<DossierDto?> BuildAsync(
        string tenantId, EntitlementsDbContext db, PlanCatalog catalog, DunningPolicy dunning, GovernanceOptions governance, TimeProvider time, CancellationToken ct)
    {
        var tenant = await db.Tenants.AsNoTracking().FirstOrDefaultAsync(t => t.TenantId == tenantId, ct);
        if (tenant is null)
        {
            return null;
        }

        var now = time.GetUtcNow();
        var rows = await db.Entitlements.AsNoTracking().Where(e => e.TenantId == tenantId).OrderBy(e => e.Environment).ToListAsync(ct);
        var history = await db.AuditEntries.AsNoTracking()
            .Where(a => a.TenantId == tenantId && (a.Action.StartsWith("tenant.") || a.Action.StartsWith("approval.")))
            .OrderBy(a => a.Id).Take(1000).ToListAsync(ct);
        var approvals = await db.Approvals.AsNoTracking().Where(a => a.TenantId == tenantId).OrderBy(a => a.RequestedAt).ToListAsync(ct);
        var created = history.FirstOrDefault(a => a.Action == "tenant.created")?.After;
        double? provisioningMs = created is not null && JsonDocument.Parse(created).RootElement.TryGetProperty("provisioning_ms", out var ms) ? ms.GetDouble() : null;
        return new DossierDto(
            new DossierTenantDto(tenant.TenantId, tenant.Name, tenant.Status, tenant.CreatedAt, tenant.DeletionRequestedAt, tenant.PurgeAfter, tenant.PurgedAt),
            rows.Select(e => EntitlementDto.From(catalog, e, Tenant.Blocks(tenant.Status), now, dunning)).ToList(),
            [
                new PolicyDto("catalog", $"version {catalog.Version}", catalog.ContentHash),
                new PolicyDto("dunning", $"full access {dunning.FullAccess.TotalDays} d, read-only until {dunning.ReadOnlyUntil.TotalDays} d", Hash($"full_access_s={dunning.FullAccess.TotalSeconds};read_only_until_s={dunning.ReadOnlyUntil.TotalSeconds}")),
                new PolicyDto("governance", $"approval for {string.Join(", ", governance.ApprovalRequired.Order(StringComparer.Ordinal))}; approvals expire after {governance.ApprovalTtl.TotalHours} h; retention {governance.Retention.TotalDays} d", governance.PolicyHash()),
            ],
            provisioningMs,
            history.Select(AuditEntryDto.From).ToList(),
            approvals.Select(ApprovalDto.From).ToList());
    }

    private static string Hash(string text) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));
}
