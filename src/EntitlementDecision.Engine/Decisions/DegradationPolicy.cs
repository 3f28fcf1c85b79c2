using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.Engine.Decisions;

/// <summary>
/// The one place for what the sidecar answers when it cannot confirm a decision (Redis or the control plane unreachable), by the
/// feature's catalog policy (<see cref="FeatureGrant.Degradation"/>, <see cref="FeatureGrant.MaxStalenessSeconds"/>). Every such
/// answer carries <see cref="Decision.Fallback"/> and the snapshot's age. A tenant with no snapshot is never granted here: the
/// caller answers UNAVAILABLE or UNKNOWN_TENANT. Metered writes (RecordUsage) always fail closed; they are not decided here.
/// Pure, allocation-free.
/// </summary>
public static class DegradationPolicy
{
    /// <summary>How long an unconfirmed snapshot counts as good when the catalog does not say: 15 minutes.</summary>
    public const long DefaultMaxStalenessSeconds = 900;

    /// <summary>
    /// <paramref name="decision"/>, made from a snapshot unconfirmed for <paramref name="age"/> (>= 0): flagged SnapshotUnconfirmed.
    /// Within the feature's max_staleness it stands; beyond it a fail_closed grant becomes FallbackDenied and a fail_open one stands.
    /// Denials stand (a feature the snapshot does not grant has no policy to open it).
    /// </summary>
    public static Decision Unconfirmed(in Decision decision, Snapshot snapshot, string featureKey, TimeSpan age)
    {
        var flagged = decision with { Fallback = FallbackCause.SnapshotUnconfirmed, SnapshotAgeMs = (long)age.TotalMilliseconds };
        if (!decision.Allowed || !snapshot.Features.TryGetValue(featureKey, out var grant)
            || grant.Degradation == Degradation.FailOpen || age <= TimeSpan.FromSeconds(grant.MaxStalenessSeconds))
        {
            return flagged;
        }

        return Deny(flagged);
    }

    /// <summary>
    /// A metered check whose usage count could not be read (<paramref name="cause"/>: UsageUnavailable or CountersRebuilding).
    /// <paramref name="withoutUsage"/> is the decision evaluated with used = 0, so it allows only when the requested units alone fit.
    /// fail_open: that decision, with used and remaining reported as 0 (unknown); fail_closed: FallbackDenied.
    /// </summary>
    public static Decision WithoutUsage(in Decision withoutUsage, FeatureGrant grant, FallbackCause cause, TimeSpan? age)
    {
        var flagged = withoutUsage with
        {
            Fallback = cause,
            SnapshotAgeMs = age is { } a ? (long)a.TotalMilliseconds : 0,
            Used = 0,
            Remaining = 0,
        };
        return grant.Degradation == Degradation.FailOpen ? flagged : Deny(flagged);
    }

    private static Decision Deny(in Decision decision) =>
        decision with { Allowed = false, Reason = DecisionReason.FallbackDenied, OverLimit = false, Overage = 0 };
}
