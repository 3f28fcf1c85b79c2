using System.Collections.Frozen;
using EntitlementDecision.Engine.Catalog;

namespace EntitlementDecision.Engine.Snapshots;

/// <summary>The subscription's state as the control plane resolved it from Stripe's status.</summary>
public enum SubscriptionState
{
    /// <summary>No subscription: the tenant is on the baseline plan.</summary>
    None = 1,
    Active = 2,
    Trialing = 3,
    PastDue = 4,
    /// <summary>canceled, unpaid, incomplete, incomplete_expired or paused: access falls back to the baseline plan.</summary>
    Inactive = 5,
}

/// <summary>Where a snapshot's effective plan came from, in resolution order.</summary>
public enum PlanSource
{
    Baseline = 1,
    Subscription = 2,
    Comped = 3,
    Override = 4,
}

/// <summary>One feature of the tenant's effective plan. <paramref name="Limit"/>: units per window, -1 = unlimited.</summary>
public sealed record FeatureGrant(string FeatureKey, FeatureKind Kind, long Limit, ResetPeriod ResetPeriod)
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
        IEnumerable<string> inactiveFeatureKeys)
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
    }

    public string TenantId { get; }
    public string Environment { get; }
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
}
