using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.Engine.Resolution;

/// <summary>
/// What the control plane knows of one tenant in one environment, as stored:
/// the Stripe subscription's status string as Stripe sent it (null when the tenant never subscribed),
/// the plan that subscription buys, an operator override and comp.
/// <paramref name="DunningStartedAt"/>: when the first still-unpaid invoice failed (null when no invoice is unpaid).
/// <paramref name="PendingPlanId"/>: a plan change scheduled for the end of the period (shown, not granted).
/// <paramref name="CancelAtPeriodEnd"/>: the subscription ends at <paramref name="CurrentPeriodEnd"/>.
/// </summary>
public sealed record EntitlementState(
    string TenantId,
    string Environment,
    string? SubscriptionPlanId,
    string? StripeStatus,
    DateTimeOffset? CurrentPeriodEnd,
    bool Comped,
    string? OverridePlanId,
    bool Suspended,
    DateTimeOffset? CurrentPeriodStart = null,
    DateTimeOffset? DunningStartedAt = null,
    string? PendingPlanId = null,
    bool CancelAtPeriodEnd = false);

/// <summary>
/// The dunning policy: after the first failed payment of an invoice, full access (grace) for <paramref name="FullAccess"/>,
/// read-only until <paramref name="ReadOnlyUntil"/> after that failure, suspended from then on until the invoice is paid.
/// Defaults from the billing runbook: days 0-3 full access (with reminders), days 3-14 read-only, after 14 suspended.
/// </summary>
public sealed record DunningPolicy(TimeSpan FullAccess, TimeSpan ReadOnlyUntil)
{
    public static readonly DunningPolicy Default = new(TimeSpan.FromDays(3), TimeSpan.FromDays(14));

    /// <summary>ArgumentException unless 0 &lt;= FullAccess &lt;= ReadOnlyUntil.</summary>
    public static DunningPolicy Create(TimeSpan fullAccess, TimeSpan readOnlyUntil) =>
        fullAccess < TimeSpan.Zero || readOnlyUntil < fullAccess
            ? throw new ArgumentException($"dunning policy needs 0 <= full access ({fullAccess}) <= read-only until ({readOnlyUntil})")
            : new DunningPolicy(fullAccess, readOnlyUntil);

    /// <summary>The schedule of a dunning that started at <paramref name="start"/>: full access until GraceEndsAt, read-only until SuspendAt.</summary>
    public (DateTimeOffset GraceEndsAt, DateTimeOffset SuspendAt) Schedule(DateTimeOffset start) => (start + FullAccess, start + ReadOnlyUntil);
}

/// <summary>Resolution: tenant override &gt; comped plan &gt; subscription plan (while the subscription grants access) &gt; baseline.</summary>
public static class EntitlementResolver
{
    /// <summary>
    /// Maps Stripe's subscription status (Stripe's Subscription object, <c>status</c>) to our state, one value per status.
    /// null or empty: <see cref="SubscriptionState.None"/>. Unknown strings: <see cref="SubscriptionState.Inactive"/> (fail closed).
    /// </summary>
    public static SubscriptionState MapStripeStatus(string? stripeStatus) => stripeStatus switch
    {
        null or "" => SubscriptionState.None,
        "active" => SubscriptionState.Active,
        "trialing" => SubscriptionState.Trialing,
        "past_due" => SubscriptionState.PastDue,
        "unpaid" => SubscriptionState.Unpaid,
        "canceled" => SubscriptionState.Canceled,
        "incomplete" => SubscriptionState.Incomplete,
        "incomplete_expired" => SubscriptionState.IncompleteExpired,
        "paused" => SubscriptionState.Paused,
        _ => SubscriptionState.Inactive,
    };

    /// <summary>True for the states that keep the subscribed plan: active, trialing, past_due and unpaid (the last two under dunning).</summary>
    public static bool GrantsPlan(SubscriptionState state) =>
        state is SubscriptionState.Active or SubscriptionState.Trialing or SubscriptionState.PastDue or SubscriptionState.Unpaid;

    /// <summary>
    /// The plan in force and where it comes from: the override plan (when in the catalog) > the comped subscription plan > the
    /// subscription plan while its Stripe status grants it (<see cref="GrantsPlan"/>) > the catalog's baseline plan. Plan ids not in
    /// <paramref name="catalog"/> are skipped.
    /// </summary>
    public static (Plan Plan, PlanSource Source) PlanOf(PlanCatalog catalog, string? overridePlanId, bool comped, string? subscriptionPlanId, string? stripeStatus)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        Plan? subscriptionPlan = subscriptionPlanId is { } sp && catalog.TryGetPlan(sp, out var p) ? p : null;
        if (overridePlanId is { } op && catalog.TryGetPlan(op, out var overridePlan))
        {
            return (overridePlan, PlanSource.Override);
        }

        if (comped && subscriptionPlan is not null)
        {
            return (subscriptionPlan, PlanSource.Comped);
        }

        return subscriptionPlan is not null && GrantsPlan(MapStripeStatus(stripeStatus))
            ? (subscriptionPlan, PlanSource.Subscription)
            : (catalog.Baseline, PlanSource.Baseline);
    }

    /// <summary>
    /// Resolves <paramref name="state"/> against <paramref name="catalog"/> into a snapshot with <paramref name="version"/>.
    /// A plan id that the catalog no longer has falls through to the next source (and finally the baseline).
    /// Access: a subscription plan in past_due or unpaid gets the dunning schedule of <paramref name="policy"/> (default
    /// <see cref="DunningPolicy.Default"/>) from <see cref="EntitlementState.DunningStartedAt"/> (past_due without a recorded start:
    /// from <paramref name="now"/>; unpaid without one: suspended). Override, comp and baseline plans are never under dunning.
    /// Full access has a deadline when it is known to end: the trial's end, or the period's end when the subscription cancels then.
    /// </summary>
    public static Snapshot Resolve(PlanCatalog catalog, EntitlementState state, long version, DateTimeOffset now, DunningPolicy? policy = null)
    {
        policy ??= DunningPolicy.Default;
        var subscriptionState = MapStripeStatus(state.StripeStatus);
        Plan? subscriptionPlan = state.SubscriptionPlanId is { } sp && catalog.TryGetPlan(sp, out var p) ? p : null;

        var (plan, source) = PlanOf(catalog, state.OverridePlanId, state.Comped, subscriptionPlan?.Id, state.StripeStatus);
        var grants = plan.Features.Values.Select(f => new FeatureGrant(
            f.Feature.Key, f.Feature.Kind, f.Limit, f.Feature.ResetPeriod, f.Feature.IsWrite, f.LimitMode, f.Feature.Unit,
            f.Feature.Degradation, f.Feature.MaxStalenessSeconds));
        var inactive = source == PlanSource.Baseline && subscriptionPlan is not null && subscriptionState is not SubscriptionState.None && !GrantsPlan(subscriptionState)
            ? subscriptionPlan.Features.Keys.Where(k => !plan.Features.ContainsKey(k))
            : [];

        DateTimeOffset? accessDeadline = null, graceEndsAt = null, suspendAt = null;
        if (source == PlanSource.Subscription)
        {
            if (subscriptionState is SubscriptionState.PastDue or SubscriptionState.Unpaid)
            {
                var start = state.DunningStartedAt ?? (subscriptionState == SubscriptionState.PastDue ? now : DateTimeOffset.MinValue + policy.ReadOnlyUntil);
                (graceEndsAt, suspendAt) = policy.Schedule(start);
            }
            else if (subscriptionState == SubscriptionState.Trialing || state.CancelAtPeriodEnd)
            {
                accessDeadline = state.CurrentPeriodEnd;
            }
        }

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
            inactive,
            state.CurrentPeriodStart,
            accessDeadline,
            graceEndsAt,
            suspendAt);
    }
}
