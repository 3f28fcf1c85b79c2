using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Resolution;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.ControlPlane.Snapshots;

/// <summary>
/// In-process wake-up for <see cref="OutboxPublisher"/>: writers call <see cref="Background.WakeSignal.Notify"/> right after committing an outbox row,
/// so the snapshot reaches Redis without waiting for the next poll. Coalesces: many notifications, one wake-up.
/// </summary>
internal sealed class OutboxSignal : Background.WakeSignal;

/// <summary>Changes to entitlement rows: every change bumps the snapshot version and queues an outbox row in the caller's transaction.</summary>
internal static class EntitlementChanges
{
    /// <summary>Increments <see cref="Entitlement.Version"/>, stamps <see cref="Entitlement.UpdatedAt"/> and adds an outbox row (not saved).</summary>
    public static void Bump(EntitlementsDbContext db, Entitlement entitlement, DateTimeOffset now)
    {
        entitlement.Version++;
        entitlement.UpdatedAt = now;
        Enqueue(db, entitlement, now);
    }

    /// <summary>Adds an outbox row for (tenant, environment) of <paramref name="entitlement"/> (not saved).</summary>
    public static void Enqueue(EntitlementsDbContext db, Entitlement entitlement, DateTimeOffset now) =>
        db.OutboxMessages.Add(new OutboxMessage
        {
            TenantId = entitlement.TenantId,
            Environment = entitlement.Environment,
            CreatedAt = now,
            TraceParent = Telemetry.TelemetrySetup.CurrentTraceParent(),
        });

    /// <summary>The resolver's input for a stored row (<paramref name="suspended"/>: the tenant's status is suspended).</summary>
    public static EntitlementState ToState(Entitlement e, bool suspended) =>
        new(e.TenantId, e.Environment, e.PlanId, e.StripeStatus, e.CurrentPeriodEnd, e.Comped, e.OverridePlanId, suspended,
            CurrentPeriodStart: e.CurrentPeriodStart, DunningStartedAt: e.DunningStartedAt, PendingPlanId: e.PendingPlanId, CancelAtPeriodEnd: e.CancelAtPeriodEnd);

    /// <summary>Resolves a stored row exactly as the snapshot publisher does (version = the row's version; <paramref name="policy"/>:
    /// the configured dunning policy, <see cref="DunningPolicy.Default"/> when null).</summary>
    public static Snapshot Resolve(PlanCatalog catalog, Entitlement e, bool suspended, DateTimeOffset now, DunningPolicy? policy = null) =>
        EntitlementResolver.Resolve(catalog, ToState(e, suspended), e.Version, now, policy);
}
