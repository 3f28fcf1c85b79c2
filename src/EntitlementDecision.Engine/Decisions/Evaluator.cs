using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.Engine.Decisions;

/// <summary>
/// The hot path: a pure function from a snapshot and a check to a decision. No I/O, no allocation.
/// Callers read the current window's usage (for metered features) before calling; see <see cref="NeedsUsage"/>.
/// </summary>
public static class Evaluator
{
    /// <summary>
    /// True when <paramref name="featureKey"/> is granted as a metered feature (finite or unlimited) and the tenant is not
    /// suspended: deciding it, or recording usage of it, needs the current window's usage count. <paramref name="grant"/> is set then.
    /// </summary>
    public static bool NeedsUsage(Snapshot snapshot, string featureKey, out FeatureGrant grant)
    {
        if (!snapshot.Suspended && snapshot.Features.TryGetValue(featureKey, out grant!) && grant.IsMetered)
        {
            return true;
        }

        grant = null!;
        return false;
    }

    /// <summary>
    /// Decides one check.
    /// requestedQuantity: units the caller is about to use, >= 0 (validated by the caller); 0 asks only whether the feature is granted.
    /// used: units already counted in the window containing <paramref name="now"/> (ignored for boolean features).
    /// Order: unknown tenant, suspended, granted (and within limit), inactive subscription, not in plan.
    /// </summary>
    public static Decision Evaluate(Snapshot? snapshot, string featureKey, long requestedQuantity, long used, DateTimeOffset now)
    {
        if (snapshot is null)
        {
            return new Decision(false, DecisionReason.UnknownTenant, 0, "", false, 0, 0, 0, null);
        }

        if (snapshot.Suspended)
        {
            return Deny(snapshot, DecisionReason.TenantSuspended);
        }

        if (snapshot.Features.TryGetValue(featureKey, out var grant))
        {
            if (!grant.IsMetered)
            {
                return new Decision(true, DecisionReason.Granted, snapshot.Version, snapshot.PlanId, false, 0, 0, 0, null);
            }

            var window = QuotaWindow.For(grant.ResetPeriod, now);
            if (grant.Limit < 0)
            {
                return new Decision(true, DecisionReason.Granted, snapshot.Version, snapshot.PlanId, true, -1, used, -1, window.End);
            }

            var remaining = Math.Max(grant.Limit - used, 0);
            var fits = requestedQuantity <= remaining;
            return new Decision(
                fits,
                fits ? DecisionReason.Granted : DecisionReason.LimitExceeded,
                snapshot.Version,
                snapshot.PlanId,
                true,
                grant.Limit,
                used,
                remaining,
                window.End);
        }

        return Deny(snapshot, snapshot.InactiveFeatureKeys.Contains(featureKey) ? DecisionReason.SubscriptionInactive : DecisionReason.NotInPlan);
    }

    private static Decision Deny(Snapshot snapshot, DecisionReason reason) =>
        new(false, reason, snapshot.Version, snapshot.PlanId, false, 0, 0, 0, null);
}
