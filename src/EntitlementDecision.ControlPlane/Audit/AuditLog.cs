using System.Text.Json;
using EntitlementDecision.ControlPlane.Data;

namespace EntitlementDecision.ControlPlane.Audit;

/// <summary>Writes <c>audit_entries</c> rows (in the caller's transaction; not saved). Before/after are JSON snapshots of the changed row.</summary>
internal static class AuditLog
{
    /// <summary>The tenant id of platform events that belong to no tenant (e.g. a Redis heal); never a valid tenant id (underscore),
    /// listed to operators at <c>GET /tenants/_system/audit</c>.</summary>
    public const string SystemTenant = "_system";

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>
    /// Adds an entry. <paramref name="before"/>/<paramref name="after"/> are serialized as snake_case JSON (null stays SQL NULL).
    /// <paramref name="raised"/>, the typed event of the change if it has one, goes to its subscribers: the tenant's notice is added
    /// here, in the same transaction (<see cref="NoticeRules"/>); the billing KPIs count it after that transaction commits
    /// (<see cref="BillingKpis"/>, <see cref="EntitlementsDbContext.AfterCommit"/>). The action string is for readers of the trail only.
    /// </summary>
    public static void Add(
        EntitlementsDbContext db, string tenantId, string? environment, DateTimeOffset at, string actor, string action, object? before, object? after, string cause,
        DomainEvent? raised = null)
    {
        var entry = new AuditEntry
        {
            TenantId = tenantId,
            Environment = environment,
            At = at,
            Actor = actor,
            Action = action,
            Before = before is null ? null : JsonSerializer.Serialize(before, before.GetType(), Json),
            After = after is null ? null : JsonSerializer.Serialize(after, after.GetType(), Json),
            Cause = cause,
        };
        db.AuditEntries.Add(entry);
        if (raised is not null)
        {
            NoticeRules.Raised(db, tenantId, environment, at, raised, cause);
            // KPIs count what committed, once: a rolled-back batch replayed event by event counts each change one time.
            db.AfterCommit(entry, () => BillingKpis.Committed(raised));
        }
    }

    /// <summary>Audits a change of an entitlement row from <paramref name="before"/> to its state now, raising <see cref="EntitlementChanged"/>.</summary>
    public static void EntitlementChange(
        EntitlementsDbContext db, Entitlement row, EntitlementAuditView before, DateTimeOffset at, string actor, string action, string cause, bool completesCheckout = false)
    {
        var after = View(row);
        Add(db, row.TenantId, row.Environment, at, actor, action, before, after, cause, new EntitlementChanged(before, after, completesCheckout));
    }

    /// <summary>The audited view of an entitlement row (every field that affects resolution, plus the version).</summary>
    public static EntitlementAuditView View(Entitlement e) => new(
        e.PlanId, e.StripeStatus, e.StripeCustomerId, e.StripeSubscriptionId, e.CurrentPeriodStart, e.CurrentPeriodEnd, e.CancelAtPeriodEnd,
        e.DunningStartedAt, e.DunningAttempts, e.Comped, e.OverridePlanId, e.Version);

    /// <summary>The audited view of a tenant row.</summary>
    public static TenantAuditView View(Tenant t) => new(t.TenantId, t.Name, t.Status);
}

/// <summary>Audit JSON of an entitlement row. Value equality: equal views mean nothing observable changed (version aside).</summary>
internal sealed record EntitlementAuditView(
    string? PlanId,
    string? StripeStatus,
    string? StripeCustomerId,
    string? StripeSubscriptionId,
    DateTimeOffset? CurrentPeriodStart,
    DateTimeOffset? CurrentPeriodEnd,
    bool CancelAtPeriodEnd,
    DateTimeOffset? DunningStartedAt,
    int DunningAttempts,
    bool Comped,
    string? OverridePlanId,
    long Version)
{
    public bool SameStateAs(EntitlementAuditView other) => this with { Version = 0 } == other with { Version = 0 };
}

/// <summary>Audit JSON of a tenant row.</summary>
internal sealed record TenantAuditView(string TenantId, string Name, string Status);
