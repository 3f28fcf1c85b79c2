using EntitlementDecision.Stripe;
using Subscription = Stripe.Subscription;
using SubscriptionItem = Stripe.SubscriptionItem;
using System.Globalization;
using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Snapshots;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Redis;
using EntitlementDecision.Stripe.Api;

namespace EntitlementDecision.ControlPlane.Subscriptions;

/// <summary>
/// One metered feature whose current usage is above the lower plan's limit: <paramref name="Used"/> units in the current window
/// (from the Redis counter the sidecar counts in), <paramref name="Limit"/> units allowed by the plan, the window's
/// <paramref name="Period"/> ("day" | "month" | "billing_period") and when it resets (UTC).
/// </summary>
internal sealed record OverUsageDto(string Feature, long Used, long Limit, string Period, DateTimeOffset ResetsAt)
{
    /// <summary>e.g. "api_calls: used 5200 this month, plan 'free' allows 1000: reduce usage by 4200 or wait for the window to reset on 2026-12-01".</summary>
    public string Describe(string planId) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{Feature}: used {Used} {Period switch { "day" => "today", "month" => "this month", _ => "this billing period" }}, plan '{planId}' allows {Limit}: reduce usage by {Used - Limit} or wait for the window to reset on {ResetsAt:yyyy-MM-dd}");
}
/// <summary>Audit JSON of a self-service billing change: the row's plan, status, cancel flag, period end and pending change.</summary>
internal sealed record BillingChangeAuditView(
    string? PlanId,
    string? StripeStatus,
    bool CancelAtPeriodEnd,
    DateTimeOffset? CurrentPeriodEnd,
    string? PendingPlanId,
    DateTimeOffset? PendingPlanEffectiveAt,
    long Version)
{
    public static BillingChangeAuditView Of(Entitlement e) =>
        new(e.PlanId, e.StripeStatus, e.CancelAtPeriodEnd, e.CurrentPeriodEnd, e.PendingPlanId, e.PendingPlanEffectiveAt, e.Version);
}

/// <summary>Rules shared by the plan-change endpoints and <see cref="PendingPlanChangeJob"/>.</summary>
internal static class PlanChanges
{
    /// <summary>Proration of an upgrade (Stripe invoices the difference for the rest of the period).</summary>
    public const string UpgradeProration = "create_prorations";

    /// <summary>Proration of a downgrade applied at the period's end (nothing to prorate).</summary>
    public const string DowngradeProration = "none";

    /// <summary>
    /// A price's amount per month in the currency's minor unit, to rank plans: month as is, year / 12, week * 52 / 12, day * 365 / 12.
    /// Plans are compared by their <see cref="SelfServiceBilling.PrimaryPrice"/>; a plan without a price counts 0.
    /// </summary>
    public static decimal MonthlyAmount(CatalogPrice? price) => price is null ? 0m : price.Interval switch
    {
        "year" => price.UnitAmount / 12m,
        "week" => price.UnitAmount * 52m / 12m,
        "day" => price.UnitAmount * 365m / 12m,
        _ => price.UnitAmount,
    };

    /// <summary>
    /// The metered features of <paramref name="target"/> with a finite limit whose usage in the current window (Redis counter
    /// <c>ed:use:{shard}:env:tenant:feature:window</c>, the one the sidecar counts in) is above that limit, at <paramref name="now"/>.
    /// Throws when Redis does not answer within 2 s (the caller answers 503: usage could not be checked).
    /// </summary>
    public static async Task<IReadOnlyList<OverUsageDto>> OverUsageAsync(RedisConnection redis, Plan target, Entitlement row, DateTimeOffset now, CancellationToken ct)
    {
        var checks = new List<(PlanFeature Feature, QuotaWindow Window)>();
        foreach (var feature in target.Features.Values.OrderBy(f => f.Feature.Key, StringComparer.Ordinal))
        {
            if (feature.Feature.Kind == FeatureKind.Metered && feature.Limit >= 0 && feature.Feature.ResetPeriod != ResetPeriod.None)
            {
                checks.Add((feature, QuotaWindow.For(feature.Feature.ResetPeriod, now, row.CurrentPeriodStart, row.CurrentPeriodEnd)));
            }
        }

        if (checks.Count == 0)
        {
            return [];
        }

        var connection = await redis.GetAsync().WaitAsync(TimeSpan.FromSeconds(2), ct);
        var values = await new UsageCounterAdmin(connection)
            .GetCountersAsync(checks.Select(c => new UsageCounterValue(row.Environment, row.TenantId, c.Feature.Feature.Key, c.Window.Key, 0)).ToList())
            .WaitAsync(TimeSpan.FromSeconds(2), ct);
        var over = new List<OverUsageDto>();
        for (var i = 0; i < checks.Count; i++)
        {
            var (feature, window) = checks[i];
            if (values[i] is { } used && used > feature.Limit)
            {
                over.Add(new OverUsageDto(feature.Feature.Key, used, feature.Limit, PeriodName(window.Period), window.End));
            }
        }

        return over;
    }

    /// <summary>
    /// Applies a subscription object Stripe returned to the LOCKED <paramref name="row"/> exactly as a re-read webhook would
    /// (<see cref="SubscriptionSync.Apply"/>: plan by price, status, period, cancel flag; audited and version-bumped
    /// when anything changed), so the snapshot changes without waiting for the webhook; the webhook later changes nothing.
    /// </summary>
    internal static ApplyResult ApplyFromStripe(SubscriptionSync sync, Entitlement row, Subscription subscription, string actor, string cause, DateTimeOffset now)
    {
        var read = StripeSubscriptionMapper.FromRetrieved(subscription, now);
        return read.Succeeded
            ? sync.Apply(row, read.Update, StateSource.Read, now, actor, "subscription.updated", cause, now)
            : ApplyResult.Rejected($"Stripe's subscription {subscription.Id}: {read.Error}");
    }

    /// <summary>The item of <paramref name="subscription"/> whose price is a catalog plan's (else its first item), or null without items.</summary>
    internal static SubscriptionItem? PlanItem(PlanCatalog catalog, Subscription subscription) =>
        subscription.Items.Data.FirstOrDefault(i => catalog.TryGetPlanByPrice(i.Price.Id, out _)) ?? subscription.Items.Data.FirstOrDefault();

    /// <summary>Sets (or clears, with null) the pending change, bumps the version (outbox) and audits it; returns false when nothing changed.</summary>
    internal static bool SetPending(
        EntitlementsDbContext db, Entitlement row, string? planId, DateTimeOffset? effectiveAt, string actor, string action, string cause, object? details, DateTimeOffset now,
        DomainEvent? raised = null)
    {
        if (row.PendingPlanId == planId && row.PendingPlanEffectiveAt == effectiveAt)
        {
            return false;
        }

        var before = BillingChangeAuditView.Of(row);
        row.PendingPlanId = planId;
        row.PendingPlanEffectiveAt = planId is null ? null : effectiveAt;
        EntitlementChanges.Bump(db, row, now);
        AuditLog.Add(db, row.TenantId, row.Environment, now, actor, action, before, new { State = BillingChangeAuditView.Of(row), Details = details }, cause, raised);
        return true;
    }

    private static string PeriodName(ResetPeriod period) => period switch
    {
        ResetPeriod.Day => "day",
        ResetPeriod.Month => "month",
        _ => "billing_period",
    };
}
