using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.Stripe;

namespace EntitlementDecision.ControlPlane.Subscriptions;

/// <summary>Where a subscription state comes from, which decides how it is ordered against what a row already holds.</summary>
internal enum StateSource
{
    /// <summary>A Stripe event's payload; ordered by the event's <c>created</c> (whole seconds, Stripe's resolution).</summary>
    Event,

    /// <summary>Stripe's object as we read it (a webhook's re-read, our own plan change): ordered by when we read it (our clock).</summary>
    Read,

    /// <summary>Stripe's object applied by reconciliation: Stripe wins whatever the row's order data say.</summary>
    Repair,
}

/// <summary>How a state compares with the row's: newer (apply), older (ignore), or a same-second tie a payload cannot decide.</summary>
internal enum OrderVerdict
{
    Newer,
    Tie,
    Older,
}

/// <summary>
/// The one order rule for webhooks, our own API changes and reconciliation (README, "Order rule"). A row keeps the <c>created</c>
/// of the newest applied Stripe event (<see cref="Entitlement.LastStripeEventCreated"/>, whole seconds) apart from when we last
/// applied Stripe's object ourselves (<see cref="Entitlement.LastStripeReadAt"/>, sub-second), and compares each at Stripe's
/// resolution: an event of the same second as our own read is never older than it. A terminal state (<c>canceled</c>,
/// <c>incomplete_expired</c>) of the row's subscription is never replaced by a non-terminal event, and a terminal event of it
/// always wins.
/// </summary>
internal static class SubscriptionOrder
{
    /// <summary>Stripe subscription statuses that never change again.</summary>
    public static bool IsTerminal(string? status) => status is "canceled" or "incomplete_expired";

    /// <summary>The whole second <paramref name="at"/> falls in (Stripe's <c>created</c> resolution).</summary>
    public static DateTimeOffset Second(DateTimeOffset at) => DateTimeOffset.FromUnixTimeSeconds(at.ToUnixTimeSeconds());

    /// <summary>An event's payload against the row: <see cref="OrderVerdict.Tie"/> when it shares a second with the newest applied event or with our last read.</summary>
    public static OrderVerdict OfEvent(Entitlement row, SubscriptionUpdate update)
    {
        var created = Second(update.EventCreated);
        if (SameSubscription(row, update) && row.StripeSubscriptionId is not null && IsTerminal(row.StripeStatus) != IsTerminal(update.Status))
        {
            // Terminal is final: a terminal event of the subscription always wins, a non-terminal one never revives it.
            return IsTerminal(update.Status) ? OrderVerdict.Newer : OrderVerdict.Older;
        }

        var lastEvent = row.LastStripeEventCreated is { } e ? Second(e) : (DateTimeOffset?)null;
        var lastRead = row.LastStripeReadAt is { } r ? Second(r) : (DateTimeOffset?)null;
        if (created < lastEvent || created < lastRead)
        {
            return OrderVerdict.Older;
        }

        if (created == lastEvent || created == lastRead)
        {
            return IsTerminal(update.Status) ? OrderVerdict.Newer : OrderVerdict.Tie;
        }

        return OrderVerdict.Newer;
    }

    /// <summary>
    /// Stripe's object read at <paramref name="observedAt"/> against the row: older than a newer read or than an event of a later
    /// second; in the second of the row's terminal event, a non-terminal object is the older one (read before the end).
    /// </summary>
    public static OrderVerdict OfRead(Entitlement row, SubscriptionUpdate update, DateTimeOffset observedAt)
    {
        var lastEvent = row.LastStripeEventCreated is { } e ? Second(e) : (DateTimeOffset?)null;
        if (observedAt < row.LastStripeReadAt || Second(observedAt) < lastEvent)
        {
            return OrderVerdict.Older;
        }

        return Second(observedAt) == lastEvent && SameSubscription(row, update) && row.StripeSubscriptionId is not null
            && IsTerminal(row.StripeStatus) && !IsTerminal(update.Status)
            ? OrderVerdict.Older
            : OrderVerdict.Newer;
    }

    /// <summary>True when the row's subscription state is newer than an invoice event of <paramref name="invoiceCreated"/> (a later event second, or our read in a later second).</summary>
    public static bool StateNewerThan(Entitlement row, DateTimeOffset invoiceCreated)
    {
        var created = Second(invoiceCreated);
        return (row.LastStripeEventCreated is { } e && Second(e) > created) || (row.LastStripeReadAt is { } r && Second(r) > created);
    }

    /// <summary>
    /// Whether an invoice event's payload decides what it does to dunning: yes when the row's subscription state is of another
    /// second than the invoice (the newer one wins), or of the same second and agrees with it (paid while not in dunning, failed
    /// while in dunning: either order ends the same); no for a same-second disagreement, which needs Stripe's object.
    /// </summary>
    public static bool InvoiceDecides(Entitlement row, string invoiceEventType, DateTimeOffset invoiceCreated)
    {
        var created = Second(invoiceCreated);
        var tie = (row.LastStripeEventCreated is { } e && Second(e) == created) || (row.LastStripeReadAt is { } r && Second(r) == created);
        if (!tie || StateNewerThan(row, invoiceCreated))
        {
            return true;
        }

        var inDunning = SubscriptionSync.InDunning(row.StripeStatus);
        return invoiceEventType == StripeInvoiceEvents.Paid ? !inDunning : inDunning;
    }

    /// <summary>Records that the row now reflects <paramref name="source"/>'s state stamped <paramref name="stamp"/> (never moving either
    /// mark back): an event's <c>created</c>, or the time Stripe's object was read (a read or a repair).</summary>
    public static void Note(Entitlement row, StateSource source, DateTimeOffset stamp)
    {
        if (source == StateSource.Event)
        {
            var created = Second(stamp);
            row.LastStripeEventCreated = row.LastStripeEventCreated is { } e && e > created ? e : created;
        }
        else
        {
            row.LastStripeReadAt = row.LastStripeReadAt is { } r && r > stamp ? r : stamp;
        }
    }

    private static bool SameSubscription(Entitlement row, SubscriptionUpdate update) =>
        row.StripeSubscriptionId is null || update.SubscriptionId is null
        || string.Equals(row.StripeSubscriptionId, update.SubscriptionId, StringComparison.Ordinal);
}
