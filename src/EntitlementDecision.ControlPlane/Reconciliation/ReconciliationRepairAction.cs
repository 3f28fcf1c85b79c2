using EntitlementDecision.ControlPlane.Approvals;
using EntitlementDecision.ControlPlane.Configuration;
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
            return new ActionOutcome(problem.Status ?? StatusCodes.Status502BadGateway, problem);
        }

        var now = time.GetUtcNow();
        if (subscription is null)
        {
            return ActionOutcome.Problem(StatusCodes.Status409Conflict, "Subscription gone", $"Stripe no longer has subscription {subscriptionId}; nothing was applied.");
        }

        var read = StripeSubscriptionMapper.FromRetrieved(subscription, now);
        if (!read.Succeeded)
        {
            return ActionOutcome.Problem(StatusCodes.Status422UnprocessableEntity, "Unusable subscription", $"Stripe's subscription {subscriptionId}: {read.Error}");
        }

        var environment = request.Environment ?? Engine.Identifiers.DefaultEnvironment;
        await using var tx = await db.BeginOrJoinTransactionAsync(ct);
        var row = await db.LockEntitlementAsync(request.TenantId, environment, ct);
        var tenant = await db.Tenants.AsNoTracking().FirstOrDefaultAsync(t => t.TenantId == request.TenantId, ct);
        if (row is null || tenant is null)
        {
            return ActionOutcome.Problem(StatusCodes.Status404NotFound, "Entitlement not found", $"No entitlement for tenant '{request.TenantId}' in environment '{environment}'.");
        }

        new SubscriptionSync(db, catalog).Apply(row, read.Update, StateSource.Repair, revealedAt: now, request.Actor, "reconciliation.repair", request.Cause, now);
        // Time to correct: from the run that first reported this row's still-open drift.
        var reportedSince = await (from m in db.ReconciliationMismatches
                                   join r in db.ReconciliationRuns on m.RunId equals r.Id
                                   where m.TenantId == request.TenantId && m.Environment == environment && m.Action == "reported"
                                   select (DateTimeOffset?)r.StartedAt).MinAsync(ct);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        if (reportedSince is { } since)
        {
            Hosting.ControlPlaneTelemetry.DriftCorrected(now - since);
        }
        return ActionOutcome.Ok(EntitlementDto.From(catalog, row, Tenant.Blocks(tenant.Status), now, dunning));
    }
}
