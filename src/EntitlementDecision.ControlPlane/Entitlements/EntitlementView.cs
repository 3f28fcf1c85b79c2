using EntitlementDecision.ControlPlane.Catalog;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Snapshots;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.ControlPlane.Subscriptions;

namespace EntitlementDecision.ControlPlane.Entitlements;

/// <summary>
/// A tenant's resolved entitlements in one environment (<c>GET /billing/entitlements</c>, <c>GET /tenants/{id}/entitlements</c>,
/// and the answer of the override/comp endpoints), resolved with <see cref="Engine.Resolution.EntitlementResolver.Resolve"/> exactly as the
/// snapshot in Redis:
/// <c>{ tenant_id, environment, plan_id (effective), plan_source ("baseline"|"subscription"|"comped"|"override"),
/// subscription_plan_id, stripe_status (Stripe's string or null), subscription_state ("none"|"active"|"trialing"|"past_due"|"inactive"),
/// stripe_customer_id, stripe_subscription_id, current_period_end (ISO 8601 or null), cancel_at_period_end, comped, override_plan_id,
/// suspended, version and snapshot_version (the same number: the snapshot version this answer resolves; pass it as the sidecar's
/// CheckEntitlementRequest.min_snapshot_version to see this state on the very next check), catalog_version, features: [FeatureDto], inactive_features: [key],
/// current_period_start, access_mode ("full"|"grace"|"read_only"|"suspended", at the time of the request), access_deadline (when the
/// mode changes next, or null), dunning_started_at, grace_ends_at, suspend_at (the dunning schedule, null outside dunning), pending_change ({ plan_id, effective_at } or null) }</c>.
/// </summary>
internal sealed record EntitlementDto(
    string TenantId,
    string Environment,
    string PlanId,
    string PlanSource,
    string? SubscriptionPlanId,
    string? StripeStatus,
    string SubscriptionState,
    string? StripeCustomerId,
    string? StripeSubscriptionId,
    DateTimeOffset? CurrentPeriodEnd,
    bool CancelAtPeriodEnd,
    bool Comped,
    string? OverridePlanId,
    bool Suspended,
    long Version,
    string CatalogVersion,
    IReadOnlyList<FeatureDto> Features,
    IReadOnlyList<string> InactiveFeatures,
    DateTimeOffset? CurrentPeriodStart = null,
    string AccessMode = "full",
    DateTimeOffset? AccessDeadline = null,
    DateTimeOffset? DunningStartedAt = null,
    DateTimeOffset? GraceEndsAt = null,
    DateTimeOffset? SuspendAt = null)
{
    /// <summary>A downgrade scheduled for the end of the period, <c>{ plan_id, effective_at }</c>, or null (<see cref="PendingChangeDto"/>).</summary>
    public PendingChangeDto? PendingChange { get; init; }

    /// <summary>Read-your-writes token for the sidecar (min_snapshot_version): <see cref="Version"/> under the name the sidecar uses.</summary>
    public long SnapshotVersion => Version;

    public static EntitlementDto From(PlanCatalog catalog, Entitlement e, bool suspended, DateTimeOffset now, Engine.Resolution.DunningPolicy? policy = null)
    {
        var s = EntitlementChanges.Resolve(catalog, e, suspended, now, policy);
        var access = s.AccessAt(now);
        return new EntitlementDto(
            e.TenantId,
            e.Environment,
            s.PlanId,
            s.PlanSource.ToString().ToLowerInvariant(),
            e.PlanId,
            e.StripeStatus,
            s.SubscriptionState switch
            {
                Engine.Snapshots.SubscriptionState.None => "none",
                Engine.Snapshots.SubscriptionState.Active => "active",
                Engine.Snapshots.SubscriptionState.Trialing => "trialing",
                Engine.Snapshots.SubscriptionState.PastDue => "past_due",
                Engine.Snapshots.SubscriptionState.Unpaid => "unpaid",
                Engine.Snapshots.SubscriptionState.Canceled => "canceled",
                Engine.Snapshots.SubscriptionState.Incomplete => "incomplete",
                Engine.Snapshots.SubscriptionState.IncompleteExpired => "incomplete_expired",
                Engine.Snapshots.SubscriptionState.Paused => "paused",
                _ => "inactive",
            },
            e.StripeCustomerId,
            e.StripeSubscriptionId,
            e.CurrentPeriodEnd,
            e.CancelAtPeriodEnd,
            e.Comped,
            e.OverridePlanId,
            suspended,
            s.Version,
            s.CatalogVersion,
            s.Features.Values.OrderBy(f => f.FeatureKey, StringComparer.Ordinal).Select(g => FeatureDto.From(g, catalog)).ToList(),
            s.InactiveFeatureKeys.Order(StringComparer.Ordinal).ToList(),
            e.CurrentPeriodStart,
            access.Mode switch
            {
                Engine.Snapshots.AccessMode.Grace => "grace",
                Engine.Snapshots.AccessMode.ReadOnly => "read_only",
                Engine.Snapshots.AccessMode.Suspended => "suspended",
                _ => "full",
            },
            access.Deadline,
            e.DunningStartedAt,
            s.GraceEndsAt,
            s.SuspendAt) { PendingChange = PendingChangeDto.From(e) };
    }
}

/// <summary>A pending plan change as shown to the tenant: the plan and when it takes effect (UTC).</summary>
internal sealed record PendingChangeDto(string PlanId, DateTimeOffset? EffectiveAt)
{
    public static PendingChangeDto? From(Entitlement e) => e.PendingPlanId is { } plan ? new PendingChangeDto(plan, e.PendingPlanEffectiveAt) : null;
}
