using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Snapshots;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Stripe;

namespace EntitlementDecision.ControlPlane.Subscriptions;

/// <summary>What applying a Stripe state or event did.</summary>
internal enum ApplyKind
{
    /// <summary>Applied (the row may or may not have changed: see <see cref="ApplyResult.Changed"/>).</summary>
    Applied,

    /// <summary>Older than what the row holds (the order rule); nothing changed.</summary>
    IgnoredStale,

    /// <summary>About a subscription other than the row's live one; nothing changed.</summary>
    IgnoredOtherSubscription,

    /// <summary>An event type the control plane does not act on.</summary>
    IgnoredUnhandled,

    /// <summary>Refused, with a reason (unknown tenant or price, a payload that contradicts Stripe, ...); nothing changed.</summary>
    Rejected,
}

/// <summary>
/// What applying a change did (<see cref="Kind"/>, the reason of a rejection) and whether an entitlement row changed (outbox
/// queued). <see cref="Outcome"/> is the text stored on a webhook event: applied | ignored_stale | ignored_other_subscription |
/// ignored_unhandled | rejected: reason.
/// </summary>
internal sealed record ApplyResult(ApplyKind Kind, bool Changed, string? Reason = null)
{
    public static ApplyResult Applied(bool changed) => new(ApplyKind.Applied, changed);

    public static readonly ApplyResult Stale = new(ApplyKind.IgnoredStale, false);

    public static readonly ApplyResult OtherSubscription = new(ApplyKind.IgnoredOtherSubscription, false);

    public static readonly ApplyResult Unhandled = new(ApplyKind.IgnoredUnhandled, false);

    public static ApplyResult Rejected(string reason) => new(ApplyKind.Rejected, false, reason);

    public bool IsRejected => Kind == ApplyKind.Rejected;

    public string Outcome => Kind switch
    {
        ApplyKind.Applied => SubscriptionSync.Applied,
        ApplyKind.IgnoredStale => SubscriptionSync.IgnoredStale,
        ApplyKind.IgnoredOtherSubscription => SubscriptionSync.IgnoredOtherSubscription,
        ApplyKind.IgnoredUnhandled => SubscriptionSync.IgnoredUnhandled,
        _ => "rejected: " + Reason,
    };
}

/// <summary>
/// Applies a Stripe subscription state to our entitlement row, the same way for webhooks, plan changes and reconciliation:
/// plan by price, status, ids, period, cancel flag, dunning start and end; audited and version-bumped (outbox) when anything
/// observable changed. Inside the caller's transaction, on a row the caller locked; nothing is saved here.
/// </summary>
internal sealed class SubscriptionSync(EntitlementsDbContext db, PlanCatalog catalog)
{
    public const string Applied = "applied";
    public const string IgnoredStale = "ignored_stale";
    public const string IgnoredOtherSubscription = "ignored_other_subscription";

    /// <summary>The stored outcome of an event type the control plane does not act on.</summary>
    public const string IgnoredUnhandled = "ignored_unhandled";

    /// <summary>
    /// Applies a subscription state (a webhook payload, or an object retrieved from Stripe) to the locked <paramref name="row"/>:
    /// plan via price, status, ids, period, cancel_at_period_end, dunning start/end. Audits and bumps the version (outbox) when
    /// anything observable changed. <paramref name="source"/> decides the order check (<see cref="SubscriptionOrder"/>): an event
    /// payload by its <c>created</c> second (a same-second tie is applied), Stripe's object read by us by
    /// <see cref="SubscriptionUpdate.EventCreated"/> (when we read it), a reconciliation repair without a check.
    /// </summary>
    public ApplyResult Apply(
        Entitlement row, SubscriptionUpdate update, StateSource source, DateTimeOffset revealedAt, string actor, string action, string cause, DateTimeOffset now,
        bool completesCheckout = false)
    {
        if (update.TenantId != row.TenantId || update.Environment != row.Environment)
        {
            return ApplyResult.Rejected($"subscription {update.SubscriptionId} belongs to {update.TenantId}/{update.Environment}");
        }

        var sameSubscription = row.StripeSubscriptionId is null || update.SubscriptionId is null
            || string.Equals(row.StripeSubscriptionId, update.SubscriptionId, StringComparison.Ordinal);
        if (!sameSubscription && SubscriptionOrder.IsTerminal(update.Status))
        {
            // An ended earlier (or abandoned) subscription never overrides the tenant's current one.
            return ApplyResult.OtherSubscription;
        }

        var verdict = source switch
        {
            StateSource.Event => SubscriptionOrder.OfEvent(row, update),
            StateSource.Read => SubscriptionOrder.OfRead(row, update, update.EventCreated),
            _ => OrderVerdict.Newer,
        };
        if (verdict == OrderVerdict.Older)
        {
            return ApplyResult.Stale;
        }

        string? planId = null;
        foreach (var price in update.PriceIds)
        {
            if (catalog.TryGetPlanByPrice(price, out var plan))
            {
                planId = plan.Id;
                break;
            }
        }

        if (planId is null && update.PriceIds.Count > 0)
        {
            return ApplyResult.Rejected($"unknown price {update.PriceIds[0]}");
        }

        var before = AuditLog.View(row);
        row.PlanId = planId ?? row.PlanId;
        row.StripeStatus = update.Status;
        row.StripeSubscriptionId = update.SubscriptionId ?? row.StripeSubscriptionId;
        row.StripeCustomerId = update.CustomerId ?? row.StripeCustomerId;
        row.CurrentPeriodStart = update.CurrentPeriodStart ?? (sameSubscription ? row.CurrentPeriodStart : null);
        row.CurrentPeriodEnd = update.CurrentPeriodEnd;
        row.CancelAtPeriodEnd = update.CancelAtPeriodEnd;
        SubscriptionOrder.Note(row, source, update.EventCreated);
        if (InDunning(update.Status))
        {
            row.DunningStartedAt ??= revealedAt;
        }
        else
        {
            row.DunningStartedAt = null;
            row.DunningAttempts = 0;
        }

        return Finish(row, before, actor, action, cause, now, completesCheckout);
    }

    /// <summary>past_due and unpaid: an invoice is unpaid and the dunning schedule applies.</summary>
    public static bool InDunning(string? status) => status is "past_due" or "unpaid";

    /// <summary>Audits (raising <see cref="EntitlementChanged"/>; <paramref name="completesCheckout"/> when it applies a completed checkout)
    /// and bumps the version when <paramref name="row"/> differs from <paramref name="before"/>; else only touches it.</summary>
    public ApplyResult Finish(Entitlement row, EntitlementAuditView before, string actor, string action, string cause, DateTimeOffset now, bool completesCheckout = false)
    {
        var after = AuditLog.View(row);
        if (after.SameStateAs(before))
        {
            row.UpdatedAt = now;
            return ApplyResult.Applied(false);
        }

        EntitlementChanges.Bump(db, row, now);
        AuditLog.EntitlementChange(db, row, before, now, actor, action, cause, completesCheckout);
        return ApplyResult.Applied(true);
    }
}
