using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.Engine.Decisions;

/// <summary>Why a check was allowed or denied. Values match entitlements.v1.DecisionReason.</summary>
public enum DecisionReason
{
    Granted = 1,
    NotInPlan = 2,
    LimitExceeded = 3,
    UnknownTenant = 4,
    SubscriptionInactive = 5,
    TenantSuspended = 6,

    /// <summary>The tenant is read-only under dunning and the feature is a write.</summary>
    ReadOnly = 7,

    /// <summary>The dunning policy suspended the tenant.</summary>
    BillingSuspended = 8,

    /// <summary>RecordUsage only: the (service, feature) pair is not declared and coverage is set to reject undeclared usage.</summary>
    UndeclaredUsage = 9,

    /// <summary>Denied by the feature's degradation policy (fail_closed): the answer could not be confirmed (see <see cref="FallbackCause"/>).</summary>
    FallbackDenied = 10,
}

/// <summary>Why a decision came from the degradation policy rather than a confirmed snapshot and count. Values match entitlements.v1.FallbackCause.</summary>
public enum FallbackCause
{
    /// <summary>Not a fallback.</summary>
    None = 0,

    /// <summary>The invalidation subscription is down (or was, and Redis has not confirmed the snapshot since): it may be stale.</summary>
    SnapshotUnconfirmed = 1,

    /// <summary>Metered: the usage store did not answer; used is unknown.</summary>
    UsageUnavailable = 2,

    /// <summary>Metered: Redis lost its data and the usage counters are being rebuilt from the ledger; used is unknown.</summary>
    CountersRebuilding = 3,
}

/// <summary>
/// The answer to one check. A denial is a value (<see cref="Allowed"/> false with a <see cref="Reason"/>), never an exception.
/// For metered features <see cref="Metered"/> is true and Limit/Used/Remaining are units of the feature's meter
/// (-1 = unlimited) for the window ending at <see cref="ResetsAt"/>. <see cref="Access"/>: the tenant's access mode at the check
/// (default for an unknown tenant). Metered only: <see cref="LimitMode"/> of the grant; <see cref="OverLimit"/> true when used plus
/// the requested units would be above the limit (a hard limit then denies; soft and report-only allow); <see cref="Overage"/> how
/// many of the requested units would lie beyond the limit. <see cref="Fallback"/>: why the degradation policy answered (None for a
/// confirmed answer); <see cref="SnapshotAgeMs"/>: ms since the snapshot was last known current (0 while it is).
/// </summary>
public readonly record struct Decision(
    bool Allowed,
    DecisionReason Reason,
    long SnapshotVersion,
    string PlanId,
    bool Metered,
    long Limit,
    long Used,
    long Remaining,
    DateTimeOffset? ResetsAt,
    Access Access = default,
    LimitMode LimitMode = LimitMode.Hard,
    bool OverLimit = false,
    long Overage = 0,
    FallbackCause Fallback = FallbackCause.None,
    long SnapshotAgeMs = 0);
