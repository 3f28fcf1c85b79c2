using System.Security.Claims;
using EntitlementDecision.ControlPlane.Approvals;
using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Entitlements;
using EntitlementDecision.ControlPlane.Snapshots;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Resolution;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Tenants;

/// <summary>
/// The answer to a delete: the tenant, when its personal data is purged, what is irreversible and what is kept (and why).
/// <c>{ tenant, purge_after, irreversible: [..], kept: [..] }</c>.
/// </summary>
internal sealed record DeletionDto(TenantDto Tenant, DateTimeOffset? PurgeAfter, IReadOnlyList<string> Irreversible, IReadOnlyList<string> Kept);

/// <summary>The answer to a purge: the tenant and what was removed.</summary>
internal sealed record PurgeDto(TenantDto Tenant, int RedactedStripeEvents, int DroppedCustomerReferences);

/// <summary>
/// Deletion with retention (the lifecycle's last steps): <c>DELETE /tenants/{id}</c> tombstones a tenant (<c>deleting</c>: blocked
/// everywhere, data kept) once no Stripe subscription is live; after the retention period (<c>ED_RETENTION_DAYS</c>) the purge job,
/// or <c>POST /tenants/{id}/purge</c>, redacts its stored Stripe payloads, drops its Stripe customer and subscription references and
/// its name (also in its audit entries), and marks it <c>deleted</c>. Both need a second operator by default (see <see cref="ApprovalService"/>).
/// The usage ledger and the audit trail are kept: they are the billing record and the evidence of what was done (the ledger's hash
/// chain must still verify), and they hold identifiers, not personal data (no names, e-mails or addresses).
/// </summary>
internal static class TenantLifecycle
{
    public static readonly IReadOnlyList<string> Irreversible =
    [
        "the tenant is denied everywhere at once (sidecar TENANT_SUSPENDED, its tokens 403, usage refused) and cannot be reactivated",
        "at purge_after, stored Stripe event payloads of the tenant are redacted (customer names, e-mails, addresses)",
        "at purge_after, Stripe customer and subscription references and the tenant's name are dropped",
    ];

    public static readonly IReadOnlyList<string> Kept =
    [
        "the usage ledger and its hash chain (the billing record; identifiers only)",
        "the audit trail (evidence of every change, including this deletion)",
        "Stripe's own records of the customer (delete the customer in Stripe for that)",
    ];

    /// <summary>Stripe statuses of a subscription that still bills or may bill again: a tenant with one cannot be deleted.</summary>
    public static bool IsLive(string? stripeStatus) => stripeStatus is not (null or "canceled" or "incomplete_expired");

    /// <summary>409 naming what to cancel first when a subscription of the tenant is live; null when none is.</summary>
    public static ActionOutcome? LiveSubscription(IEnumerable<Entitlement> rows)
    {
        var live = rows.Where(e => e.StripeSubscriptionId is not null && IsLive(e.StripeStatus)).ToList();
        return live.Count == 0
            ? null
            : ActionOutcome.Problem(ActionRefusal.Conflict, "Subscription still live",
                "Cancel first: " + string.Join("; ", live.Select(e => $"{e.Environment}: {e.StripeSubscriptionId} ({e.StripeStatus})"))
                + " (POST /billing/subscription/cancel as the tenant's owner, or in Stripe), then wait for its cancellation webhook.");
    }

    /// <summary><c>DELETE /tenants/{id}</c>: 404 unknown; 409 already deleting/deleted or a live subscription; else the tombstone (or 202 approval).</summary>
    public static async Task<IResult> Delete(
        string tenantId, HttpContext http, ClaimsPrincipal user, EntitlementsDbContext db, ApprovalService approvals, GovernanceOptions governance, OutboxSignal signal, CancellationToken ct)
    {
        var tenant = await db.Tenants.AsNoTracking().FirstOrDefaultAsync(t => t.TenantId == tenantId, ct);
        if (tenant is null)
        {
            return TenantNotFound(tenantId).ToResult();
        }

        if (tenant.Status is Tenant.Deleting or Tenant.Deleted)
        {
            return ActionOutcome.Problem(ActionRefusal.Conflict, "Already deleted", $"Tenant '{tenantId}' is {tenant.Status}.").ToResult();
        }

        if (LiveSubscription(await db.Entitlements.AsNoTracking().Where(e => e.TenantId == tenantId).ToListAsync(ct)) is { } live)
        {
            return live.ToResult();
        }

        var result = await approvals.RunAsync(db, ApprovalActions.TenantDelete, tenantId, null, new { }, user, $"request:{http.TraceIdentifier}", ct,
            $"Once approved the tenant is denied everywhere and its personal data is purged {governance.Retention.TotalDays:0.##} days later (or at once with POST /tenants/{{id}}/purge).",
            Irreversible);
        signal.Notify();
        return result;
    }

    /// <summary><c>POST /tenants/{id}/purge</c>: purge a deleting tenant now (or 202 approval). 409 unless it is deleting.</summary>
    public static async Task<IResult> PurgeNow(string tenantId, HttpContext http, ClaimsPrincipal user, EntitlementsDbContext db, ApprovalService approvals, OutboxSignal signal, CancellationToken ct)
    {
        var tenant = await db.Tenants.AsNoTracking().FirstOrDefaultAsync(t => t.TenantId == tenantId, ct);
        if (tenant is null)
        {
            return TenantNotFound(tenantId).ToResult();
        }

        if (tenant.Status != Tenant.Deleting)
        {
            return NotDeleting(tenant).ToResult();
        }

        var result = await approvals.RunAsync(db, ApprovalActions.TenantPurge, tenantId, null, new { }, user, $"request:{http.TraceIdentifier}", ct,
            "Once approved the tenant's personal data is purged at once.", Irreversible.Skip(1).ToList());
        signal.Notify();
        return result;
    }

    /// <summary>Tombstones the tenant: deleting, purge_after = now + retention; every environment's snapshot bumped (blocked). Audited.</summary>
    internal static async Task<ActionOutcome> TombstoneAsync(EntitlementsDbContext db, ActionRequest request, GovernanceOptions policy, TimeProvider time, CancellationToken ct)
    {
        await using var tx = await db.BeginOrJoinTransactionAsync(ct);
        var tenant = await db.LockTenantAsync(request.TenantId, ct);
        if (tenant is null)
        {
            return TenantNotFound(request.TenantId);
        }

        var rows = await db.Entitlements.FromSql($"SELECT * FROM entitlements WHERE tenant_id = {request.TenantId} ORDER BY environment FOR UPDATE").ToListAsync(ct);
        if (tenant.Status is Tenant.Deleting or Tenant.Deleted)
        {
            return ActionOutcome.Problem(ActionRefusal.Conflict, "Already deleted", $"Tenant '{tenant.TenantId}' is {tenant.Status}.");
        }

        if (LiveSubscription(rows) is { } live)
        {
            return live;
        }

        var now = time.GetUtcNow();
        var before = AuditLog.View(tenant);
        tenant.Status = Tenant.Deleting;
        tenant.DeletionRequestedAt = now;
        tenant.PurgeAfter = now + policy.Retention;
        foreach (var e in rows)
        {
            EntitlementChanges.Bump(db, e, now);
        }

        AuditLog.Add(db, tenant.TenantId, null, now, request.Actor, "tenant.delete_requested", before,
            new { Tenant = AuditLog.View(tenant), tenant.PurgeAfter }, request.Cause);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return ActionOutcome.Ok(new DeletionDto(TenantEndpoints.ToDto(tenant, rows.Select(e => (e.Environment, e.Version))), tenant.PurgeAfter, Irreversible, Kept));
    }

    /// <summary>
    /// Purges a deleting tenant: redacts its stored Stripe event payloads (by tenant, and by its Stripe customer ids), drops customer and
    /// subscription references and its name, marks it deleted; snapshots bumped. Audited <c>tenant.purged</c> with the counts.
    /// </summary>
    internal static async Task<ActionOutcome> PurgeAsync(EntitlementsDbContext db, ActionRequest request, TimeProvider time, CancellationToken ct)
    {
        await using var tx = await db.BeginOrJoinTransactionAsync(ct);
        var tenant = await db.LockTenantAsync(request.TenantId, ct);
        if (tenant is null)
        {
            return TenantNotFound(request.TenantId);
        }

        if (tenant.Status != Tenant.Deleting)
        {
            return NotDeleting(tenant);
        }

        var rows = await db.Entitlements.FromSql($"SELECT * FROM entitlements WHERE tenant_id = {request.TenantId} ORDER BY environment FOR UPDATE").ToListAsync(ct);
        var customers = rows.Select(e => e.StripeCustomerId).OfType<string>().Distinct().ToArray();
        var redacted = await db.Database.ExecuteSqlInterpolatedAsync($"""
            UPDATE stripe_events SET payload = jsonb_build_object('id', event_id, 'type', type, 'redacted', true)
            WHERE NOT coalesce((payload->>'redacted')::boolean, false)
              AND (tenant_id = {tenant.TenantId}
                OR payload->'data'->'object'->>'customer' = ANY({customers})
                OR (payload->'data'->'object'->>'object' = 'customer' AND payload->'data'->'object'->>'id' = ANY({customers})))
            """, ct);
        // The tenant's name in its own audit entries (tenant.created and the like) goes too; actions, times and ids stay as evidence.
        await db.Database.ExecuteSqlInterpolatedAsync($$"""
            UPDATE audit_entries SET
              before = CASE WHEN before ? 'name' THEN jsonb_set(before, '{name}', '"(purged)"')
                            WHEN before->'tenant' ? 'name' THEN jsonb_set(before, '{tenant,name}', '"(purged)"') ELSE before END,
              after = CASE WHEN after ? 'name' THEN jsonb_set(after, '{name}', '"(purged)"')
                           WHEN after->'tenant' ? 'name' THEN jsonb_set(after, '{tenant,name}', '"(purged)"') ELSE after END
            WHERE tenant_id = {{tenant.TenantId}}
            """, ct);
        // Hosted invoice pages and PDFs show the customer's name and address: the links go, the amounts stay (billing record).
        await db.Invoices.Where(i => i.TenantId == tenant.TenantId)
            .ExecuteUpdateAsync(u => u.SetProperty(i => i.HostedInvoiceUrl, (string?)null).SetProperty(i => i.InvoicePdf, (string?)null), ct);
        await db.NoticeEndpoints.Where(e => e.TenantId == tenant.TenantId).ExecuteDeleteAsync(ct);
        var now = time.GetUtcNow();
        var before = new { tenant.TenantId, tenant.Status };
        var dropped = 0;
        foreach (var e in rows)
        {
            dropped += (e.StripeCustomerId is null ? 0 : 1) + (e.StripeSubscriptionId is null ? 0 : 1);
            e.StripeCustomerId = null;
            e.StripeSubscriptionId = null;
            e.CollectionPausedSubscriptionId = null;
            e.CollectionChangeRequestedAt = null;
            EntitlementChanges.Bump(db, e, now);
        }

        tenant.Name = "(purged)";
        tenant.Status = Tenant.Deleted;
        tenant.PurgedAt = now;
        AuditLog.Add(db, tenant.TenantId, null, now, request.Actor, "tenant.purged", before,
            new { tenant.TenantId, tenant.Status, RedactedStripeEvents = redacted, DroppedCustomerReferences = dropped }, request.Cause);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return ActionOutcome.Ok(new PurgeDto(TenantEndpoints.ToDto(tenant, rows.Select(e => (e.Environment, e.Version))), redacted, dropped));
    }

    internal static ActionOutcome TenantNotFound(string tenantId) =>
        ActionOutcome.Problem(ActionRefusal.NotFound, "Tenant not found", $"No tenant '{tenantId}'.");

    private static ActionOutcome NotDeleting(Tenant tenant) =>
        ActionOutcome.Problem(ActionRefusal.Conflict, "Not being deleted",
            $"Tenant '{tenant.TenantId}' is {tenant.Status}: only a deleting tenant (DELETE /tenants/{{id}} approved) can be purged.");
}

/// <summary><c>tenant.delete</c> as an approvable action.</summary>
internal sealed class TenantDeleteAction(GovernanceOptions policy, TimeProvider time) : IApprovableAction
{
    public string Name => ApprovalActions.TenantDelete;

    public Task<ActionOutcome> ExecuteAsync(EntitlementsDbContext db, ActionRequest request, CancellationToken ct) =>
        TenantLifecycle.TombstoneAsync(db, request, policy, time, ct);
}

/// <summary><c>tenant.purge</c> as an approvable action.</summary>
internal sealed class TenantPurgeAction(TimeProvider time) : IApprovableAction
{
    public string Name => ApprovalActions.TenantPurge;

    public Task<ActionOutcome> ExecuteAsync(EntitlementsDbContext db, ActionRequest request, CancellationToken ct) =>
        TenantLifecycle.PurgeAsync(db, request, time, ct);
}

/// <summary>
/// The purge job (hosted): every <see cref="Interval"/>, purges each deleting tenant whose <see cref="Tenant.PurgeAfter"/> has passed
/// (actor <c>system:purge-job</c>, cause <c>retention</c>). A failure is logged and retried on the next pass.
/// </summary>
internal sealed partial class PurgeJob(IServiceScopeFactory scopes, TimeProvider time, OutboxSignal signal, ILogger<PurgeJob> logger) : Background.BackgroundLoop(logger)
{
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    protected override TimeProvider Time => time;

    protected override TimeSpan? InitialDelay => TimeSpan.FromSeconds(5);

    protected override async Task<TimeSpan?> PassAsync(CancellationToken ct)
    {
        await RunDueAsync(time.GetUtcNow(), ct);
        return Interval;
    }

    /// <summary>Purges the deleting tenants due at <paramref name="now"/>; returns how many were purged.</summary>
    internal async Task<int> RunDueAsync(DateTimeOffset now, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<EntitlementsDbContext>();
        var due = await db.Tenants.AsNoTracking().Where(t => t.Status == Tenant.Deleting && t.PurgeAfter <= now).Select(t => t.TenantId).ToListAsync(ct);
        var purged = 0;
        foreach (var id in due)
        {
            var outcome = await TenantLifecycle.PurgeAsync(db, new ActionRequest(id, null, default, "system:purge-job", "retention"), time, ct);
            purged += outcome.Succeeded ? 1 : 0;
            LogPurged(logger, id, ActionResults.Status(outcome));
        }

        if (purged > 0)
        {
            signal.Notify();
        }

        return purged;
    }

    [LoggerMessage(EventId = 6001, Level = LogLevel.Information, Message = "Retention: purged tenant {TenantId} ({Status})")]
    private static partial void LogPurged(ILogger logger, string tenantId, int status);
}
