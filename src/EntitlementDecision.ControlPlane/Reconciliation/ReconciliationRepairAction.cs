using EntitlementDecision.ControlPlane.Approvals;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Entitlements;
using EntitlementDecision.ControlPlane.Subscriptions;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Resolution;
using EntitlementDecision.Stripe;
using EntitlementDecision.Stripe.Api;
using Microsoft.EntityFrameworkCore;
using Stripe;

namespace EntitlementDecision.ControlPlane.Reconciliation;

/// <summary>
/// <c>reconciliation.repair</c> (payload <c>{ run_id, subscription_id }</c>, filed by the reconciler): re-reads the subscription from
/// Stripe at approval time and applies it to the row like a webhook (<see cref="SubscriptionSync.Apply"/>: version bump, outbox,
/// audit with the approval as cause). 404 unknown row, 409 when Stripe no longer has the subscription, Stripe errors as ProblemDetails.
/// </summary>
internal sealed class ReconciliationRepairAction(IStripeBilling stripe, PlanCatalog catalog, DunningPolicy dunning, TimeProvider time) : IApprovableAction
{
    public string Name => ApprovalActions.ReconciliationRepair;

    public async Task<ActionOutcome> ExecuteAsync(EntitlementsDbContext db, ActionRequest request, CancellationToken ct)
    {
        var subscriptionId = request.Payload.GetProperty("subscription_id").GetString()!;
        Subscription? subscription;
        try
        {
            subscription = await stripe.GetSubscriptionAsync(subscriptionId, ct);
        }
        catch (StripeException e)
        {
            var problem = StripeProblemDetails.From(e);
            return new ActionOutcome.StripeFailed(problem);
        }

        var now = time.GetUtcNow();
        if (subscription is null)
        {
            return ActionOutcome.Problem(ActionRefusal.Conflict, "Subscription gone", $"Stripe no longer has subscription {subscriptionId}; nothing was applied.");
        }

        var read = StripeSubscriptionMapper.FromRetrieved(subscription, now);
        if (!read.Succeeded)
        {
            return ActionOutcome.Problem(ActionRefusal.Unprocessable, "Unusable subscription", $"Stripe's subscription {subscriptionId}: {read.Error}");
        }

        var environment = request.Environment ?? Engine.Identifiers.DefaultEnvironment;
        await using var tx = await db.BeginOrJoinTransactionAsync(ct);
        var row = await db.LockEntitlementAsync(request.TenantId, environment, ct);
        var tenant = await db.Tenants.AsNoTracking().FirstOrDefaultAsync(t => t.TenantId == request.TenantId, ct);
        if (row is null || tenant is null)
        {
            return ActionOutcome.Problem(ActionRefusal.NotFound, "Entitlement not found", $"No entitlement for tenant '{request.TenantId}' in environment '{environment}'.");
        }

        new SubscriptionSync(db, catalog).Apply(row, read.Update, StateSource.Repair, revealedAt: now, request.Actor, "reconciliation.repair", request.Cause, now);
        if (await CloseReportedAsync(db, request.TenantId, environment, ct) is { } open)
        {
            // Joined to the approval's transaction: timed once that commits.
            db.AfterCommit(open.Row, () => Observability.ControlPlaneTelemetry.DriftCorrected(now - open.Since));
        }

        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);

        return ActionOutcome.Ok(EntitlementDto.From(catalog, row, Tenant.Blocks(tenant.Status), now, dunning));
    }

    /// <summary>
    /// Marks the row's open drift (mismatches still <c>reported</c>) <c>repaired</c>, in the caller's transaction; returns when the
    /// earliest of them was reported (its run's start) and one of the rows, null when none was open. Time to correct runs from
    /// there, so a later drift of the same row is timed from its own first report.
    /// </summary>
    internal static async Task<(DateTimeOffset Since, ReconciliationMismatch Row)?> CloseReportedAsync(EntitlementsDbContext db, string tenantId, string environment, CancellationToken ct)
    {
        var open = await db.ReconciliationMismatches
            .Where(m => m.TenantId == tenantId && m.Environment == environment && m.Action == "reported").ToListAsync(ct);
        if (open.Count == 0)
        {
            return null;
        }

        var runs = open.Select(m => m.RunId).Distinct().ToList();
        var first = await db.ReconciliationRuns.Where(r => runs.Contains(r.Id)).MinAsync(r => r.StartedAt, ct);
        foreach (var m in open)
        {
            m.Action = "repaired";
        }

        return (first, open[0]);
    }
}
