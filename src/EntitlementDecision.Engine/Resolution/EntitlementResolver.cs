using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.Engine.Resolution;

/// <summary>
/// What the control plane knows of one tenant in one environment, as stored:
/// the Stripe subscription's status string as Stripe sent it (null when the tenant never subscribed),
/// the plan that subscription buys, an operator override and comp.
/// </summary>
public sealed record EntitlementState(
    string TenantId,
    string Environment,
    string? SubscriptionPlanId,
    string? StripeStatus,
    DateTimeOffset? CurrentPeriodEnd,
    bool Comped,
    string? OverridePlanId,
    bool Suspended);

/// <summary>Resolution: tenant override &gt; comped plan &gt; subscription plan (while the subscription grants access) &gt; baseline.</summary>
public static class EntitlementResolver
{
    /// <summary>
    /// Maps Stripe's subscription status (per Stripe's Subscription object docs) to our state:
    /// active, trialing and past_due keep the plan; canceled, unpaid, incomplete, incomplete_expired and paused do not.
    /// null or empty: <see cref="SubscriptionState.None"/>. Unknown strings are treated as inactive (fail closed).
    /// </summary>
    public static SubscriptionState MapStripeStatus(string? stripeStatus) => stripeStatus switch
    {
        null or "" => SubscriptionState.None,
        "active" => SubscriptionState.Active,
        "trialing" => SubscriptionState.Trialing,
        "past_due" => SubscriptionState.PastDue,
        _ => SubscriptionState.Inactive,
    };

    /// <summary>
    /// Resolves <paramref name="state"/> against <paramref name="catalog"/> into a snapshot with <paramref name="version"/>.
    /// A plan id that the catalog no longer has falls through to the next source (and finally the baseline).
    /// </summary>
    public static Snapshot Resolve(PlanCatalog catalog, EntitlementState state, long version, DateTimeOffset now)
    {
        var subscriptionState = MapStripeStatus(state.StripeStatus);
        Plan? subscriptionPlan = state.SubscriptionPlanId is { } sp && catalog.TryGetPlan(sp, out var p) ? p : null;

        Plan plan;
        PlanSource source;
        if (state.OverridePlanId is { } op && catalog.TryGetPlan(op, out var overridePlan))
        {
            plan = overridePlan;
            source = PlanSource.Override;
        }
        else if (state.Comped && subscriptionPlan is not null)
        {
            plan = subscriptionPlan;
            source = PlanSource.Comped;
        }
        else if (subscriptionPlan is not null && subscriptionState is SubscriptionState.Active or SubscriptionState.Trialing or SubscriptionState.PastDue)
        {
            plan = subscriptionPlan;
            source = PlanSource.Subscription;
        }
        else
        {
            plan = catalog.Baseline;
            source = PlanSource.Baseline;
        }

        var grants = plan.Features.Values.Select(f => new FeatureGrant(f.Feature.Key, f.Feature.Kind, f.Limit, f.Feature.ResetPeriod));
        var inactive = source == PlanSource.Baseline && subscriptionPlan is not null && subscriptionState == SubscriptionState.Inactive
            ? subscriptionPlan.Features.Keys.Where(k => !plan.Features.ContainsKey(k))
            : [];

        return new Snapshot(
            state.TenantId,
            state.Environment,
            version,
            plan.Id,
            source,
            subscriptionState,
            state.Comped,
            state.Suspended,
            state.CurrentPeriodEnd,
            now,
            catalog.Version,
            grants,
            inactive);
    }
}
