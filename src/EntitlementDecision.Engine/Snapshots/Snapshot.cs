using System.Collections.Frozen;
using EntitlementDecision.Engine.Catalog;

namespace EntitlementDecision.Engine.Snapshots;

/// <summary>
/// The subscription's state: one value per Stripe subscription status (Stripe's Subscription object, <c>status</c>).
/// Active, Trialing, PastDue and Unpaid keep the subscribed plan (PastDue and Unpaid under the dunning schedule);
/// the others fall back to the baseline plan.
/// </summary>
public enum SubscriptionState
{
    /// <summary>No subscription: the tenant is on the baseline plan.</summary>
    None = 1,
    Active = 2,
    Trialing = 3,
    PastDue = 4,

    /// <summary>A Stripe status this version does not know: baseline plan (fail closed).</summary>
    Inactive = 5,

    /// <summary>Stripe stopped retrying the invoice; the plan stays under the dunning schedule.</summary>
    Unpaid = 6,
    Canceled = 7,
    Incomplete = 8,
    IncompleteExpired = 9,
    Paused = 10,
}

/// <summary>What a tenant may do at a given instant (entitlements.v1.AccessMode).</summary>
public enum AccessMode
{
    /// <summary>Everything the effective plan grants.</summary>
    Full = 1,

    /// <summary>Everything the plan grants while a failed payment is retried, until the grace period ends.</summary>
    Grace = 2,

    /// <summary>Reads only: features the catalog marks as writes are denied.</summary>
    ReadOnly = 3,

    /// <summary>Nothing is granted.</summary>
    Suspended = 4,
}

/// <summary>The access mode at an instant and when it changes next (<paramref name="Deadline"/>, UTC; null when not known).</summary>
public readonly record struct Access(AccessMode Mode, DateTimeOffset? Deadline);

/// <summary>Where a snapshot's effective plan came from, in resolution order.</summary>
public enum PlanSource
{
    Baseline = 1,
    Subscription = 2,
    Comped = 3,
    Override = 4,
}

/// <summary>
/// One feature of the tenant's effective plan. <paramref name="Limit"/>: units per window, -1 = unlimited.
/// <paramref name="Write"/>: denied while the tenant is read-only. <paramref name="LimitMode"/> and <paramref name="Unit"/>: metered features only.
/// <paramref name="Degradation"/> and <paramref name="MaxStalenessSeconds"/>: the catalog's degradation policy for the feature.
/// </summary>
public sealed record FeatureGrant(
    string FeatureKey,
    FeatureKind Kind,
    long Limit,
    ResetPeriod ResetPeriod,
    bool Write = false,
    LimitMode LimitMode = LimitMode.Hard,
    string? Unit = null,
    Degradation Degradation = Degradation.FailClosed,
    long MaxStalenessSeconds = Decisions.DegradationPolicy.DefaultMaxStalenessSeconds)
{
    public bool IsMetered => Kind == FeatureKind.Metered;
}

/// <summary>
/// A tenant's resolved entitlements in one environment: what the sidecar decides from.
/// Immutable; <see cref="Version"/> strictly increases per (tenant, environment).
/// </summary>
public sealed class Snapshot
{
    public Snapshot(
        string tenantId,
        string environment,
        long version,
        string planId,
        PlanSource planSource,
        SubscriptionState subscriptionState,
        bool comped,
        bool suspended,
        DateTimeOffset? currentPeriodEnd,
        DateTimeOffset generatedAt,
        string catalogVersion,
        IEnumerable<FeatureGrant> features,
        IEnumerable<string> inactiveFeatureKeys,
        DateTimeOffset? currentPeriodStart = null,
        DateTimeOffset? accessDeadline = null,
        DateTimeOffset? graceEndsAt = null,
        DateTimeOffset? suspendAt = null)
    {
        TenantId = tenantId;
        Environment = environment;
        Version = version;
        PlanId = planId;
        PlanSource = planSource;
        SubscriptionState = subscriptionState;
        Comped = comped;
        Suspended = suspended;
        CurrentPeriodEnd = currentPeriodEnd;
        GeneratedAt = generatedAt;
        CatalogVersion = catalogVersion;
        Features = features.ToFrozenDictionary(f => f.FeatureKey, StringComparer.Ordinal);
        InactiveFeatureKeys = inactiveFeatureKeys.ToFrozenSet(StringComparer.Ordinal);
        CurrentPeriodStart = currentPeriodStart;
        AccessDeadline = accessDeadline;
        GraceEndsAt = graceEndsAt;
        SuspendAt = suspendAt;
    }

    public string TenantId { get; }
    public string Environment { get; }

    /// <summary>(<see cref="Environment"/>, <see cref="TenantId"/>) as one key.</summary>
    public TenantKey Key => new(Environment, TenantId);
    public long Version { get; }
    public string PlanId { get; }
    public PlanSource PlanSource { get; }
    public SubscriptionState SubscriptionState { get; }
    public bool Comped { get; }
    public bool Suspended { get; }
    public DateTimeOffset? CurrentPeriodEnd { get; }
    public DateTimeOffset GeneratedAt { get; }
    public string CatalogVersion { get; }
    public FrozenDictionary<string, FeatureGrant> Features { get; }

    /// <summary>Features of the subscribed plan not granted because the subscription is inactive.</summary>
    public FrozenSet<string> InactiveFeatureKeys { get; }

    public DateTimeOffset? CurrentPeriodStart { get; }

    /// <summary>When full access ends for a reason known now (trial end, cancel at period end); null otherwise.</summary>
    public DateTimeOffset? AccessDeadline { get; }

    /// <summary>Dunning schedule: full access (grace) until then. Null when the tenant is not in dunning.</summary>
    public DateTimeOffset? GraceEndsAt { get; }

    /// <summary>Dunning schedule: read-only until then, suspended from then on. Null when the tenant is not in dunning.</summary>
    public DateTimeOffset? SuspendAt { get; }

    /// <summary>
    /// The access mode at <paramref name="now"/>: outside dunning <see cref="AccessMode.Full"/> (deadline <see cref="AccessDeadline"/>);
    /// in dunning <see cref="AccessMode.Grace"/> before <see cref="GraceEndsAt"/>, <see cref="AccessMode.ReadOnly"/> before
    /// <see cref="SuspendAt"/>, then <see cref="AccessMode.Suspended"/>. An operator suspension (<see cref="Suspended"/>) is Suspended.
    /// Allocates nothing.
    /// </summary>
    public Access AccessAt(DateTimeOffset now)
    {
        if (Suspended)
        {
            return new Access(AccessMode.Suspended, null);
        }

        if (GraceEndsAt is null && SuspendAt is null)
        {
            return new Access(AccessMode.Full, AccessDeadline);
        }

        if (GraceEndsAt is { } grace && now < grace)
        {
            return new Access(AccessMode.Grace, grace);
        }

        if (SuspendAt is not { } suspend || now < suspend)
        {
            return new Access(AccessMode.ReadOnly, SuspendAt);
        }

        return new Access(AccessMode.Suspended, null);
    }
}
