using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Engine.Usage;

namespace EntitlementDecision.Engine.Decisions;

/// <summary>
/// The hot path: a pure function from a snapshot and a check to a decision. No I/O, no allocation.
/// Callers read the current window's usage (for metered features) before calling; see <see cref="NeedsUsage"/>.
/// </summary>
public static class Evaluator
{
    /// <summary>
    /// True when <paramref name="featureKey"/> is granted as a metered feature (finite or unlimited) and <see cref="Evaluate"/> at
    /// <paramref name="now"/> would look at its usage: not when the tenant is suspended (by an operator or by dunning), nor for a write
    /// while it is read-only, since those are denied whatever the count. Deciding it, or recording usage of it, then needs the current
    /// window's usage count. <paramref name="grant"/> is set when true. Allocates nothing.
    /// </summary>
    public static bool NeedsUsage(Snapshot snapshot, string featureKey, DateTimeOffset now, out FeatureGrant grant)
    {
        if (snapshot.Features.TryGetValue(featureKey, out grant!) && grant.IsMetered)
        {
            var mode = snapshot.AccessAt(now).Mode;
            if (mode != AccessMode.Suspended && !(mode == AccessMode.ReadOnly && grant.Write))
            {
                return true;
            }
        }

        grant = null!;
        return false;
    }

    /// <summary>
    /// Decides one check.
    /// requestedQuantity: units the caller is about to use, >= 0 (validated by the caller); 0 asks only whether the feature is granted.
    /// used: units already counted in the window containing <paramref name="now"/> (ignored for boolean features).
    /// Metered features follow the grant's limit mode (<see cref="UsageLimits.Check"/>): a hard limit denies units that do not fit
    /// (LimitExceeded); soft and report-only limits allow them and say so (OverLimit, Overage). Nothing is counted here.
    /// Order: unknown tenant, operator-suspended, billing-suspended (dunning), granted (read-only tenants: writes denied; then the limit),
    /// inactive subscription, not in plan. Every decision carries the tenant's access mode at <paramref name="now"/>.
    /// </summary>
    public static Decision Evaluate(Snapshot? snapshot, string featureKey, long requestedQuantity, long used, DateTimeOffset now)
    {
        if (snapshot is null)
        {
            return new Decision(false, DecisionReason.UnknownTenant, 0, "", false, 0, 0, 0, null);
        }

        var access = snapshot.AccessAt(now);
        if (snapshot.Suspended)
        {
            return Deny(snapshot, DecisionReason.TenantSuspended, access);
        }

        if (access.Mode == AccessMode.Suspended)
        {
            return Deny(snapshot, DecisionReason.BillingSuspended, access);
        }

        if (snapshot.Features.TryGetValue(featureKey, out var grant))
        {
            if (grant.Write && access.Mode == AccessMode.ReadOnly)
            {
                return Deny(snapshot, DecisionReason.ReadOnly, access);
            }

            if (!grant.IsMetered)
            {
                return new Decision(true, DecisionReason.Granted, snapshot.Version, snapshot.PlanId, false, 0, 0, 0, null, access);
            }

            var window = QuotaWindow.For(snapshot, grant, now);
            var unlimited = grant.Limit < 0;
            var check = UsageLimits.Check(grant.LimitMode, grant.Limit, used, requestedQuantity);
            return new Decision(
                check.Allowed,
                check.Allowed ? DecisionReason.Granted : DecisionReason.LimitExceeded,
                snapshot.Version,
                snapshot.PlanId,
                true,
                unlimited ? -1 : grant.Limit,
                used,
                unlimited ? -1 : Math.Max(grant.Limit - used, 0),
                window.End,
                access,
                grant.LimitMode,
                check.OverLimit,
                check.Overage);
        }

        return Deny(snapshot, snapshot.InactiveFeatureKeys.Contains(featureKey) ? DecisionReason.SubscriptionInactive : DecisionReason.NotInPlan, access);
    }

    private static Decision Deny(Snapshot snapshot, DecisionReason reason, Access access) =>
        new(false, reason, snapshot.Version, snapshot.PlanId, false, 0, 0, 0, null, access);
}
