using System.Collections.Frozen;
using global::Stripe;

namespace EntitlementDecision.Stripe;

/// <summary>
/// What an <c>invoice.payment_failed</c> / <c>invoice.paid</c> event says (Stripe API: "Invoice object"): the invoice, its
/// subscription and customer, the payment attempt count and the tenant from the subscription's metadata when Stripe copies it
/// onto the invoice.
/// </summary>
/// <param name="InvoiceId"><c>in_...</c>.</param>
/// <param name="SubscriptionId"><c>sub_...</c>: <c>subscription</c> (API versions before 2025-03-31) or
/// <c>parent.subscription_details.subscription</c> (later versions); null for an invoice without a subscription.</param>
/// <param name="CustomerId"><c>cus_...</c> from <c>customer</c>, or null.</param>
/// <param name="TenantId"><c>metadata.tenant_id</c> of the subscription as copied onto the invoice
/// (<c>parent.subscription_details.metadata</c> or <c>subscription_details.metadata</c>), else the invoice's own
/// <c>metadata.tenant_id</c>; null when none says (the caller then finds the tenant by subscription or customer id).</param>
/// <param name="Environment"><c>metadata.environment</c> next to the tenant id, or null.</param>
/// <param name="AttemptCount"><c>attempt_count</c>: payment attempts so far (0 when absent).</param>
/// <param name="NextPaymentAttempt"><c>next_payment_attempt</c>, UTC, or null when Stripe will not retry.</param>
/// <param name="EventId">The event's <c>id</c>.</param>
/// <param name="EventType">The event's <c>type</c>.</param>
/// <param name="EventCreated">The event's <c>created</c>, UTC.</param>
public sealed record InvoiceUpdate(
    string InvoiceId,
    string? SubscriptionId,
    string? CustomerId,
    string? TenantId,
    string? Environment,
    int AttemptCount,
    DateTimeOffset? NextPaymentAttempt,
    string EventId,
    string EventType,
    DateTimeOffset EventCreated);

/// <summary>
/// What a <c>customer.subscription.trial_will_end</c> event says: the subscription (as in <see cref="SubscriptionUpdate"/>) and
/// when its trial ends.
/// </summary>
/// <param name="Subscription">The subscription as read by <see cref="StripeSubscriptionEvents.Read"/> rules.</param>
/// <param name="TrialEnd"><c>trial_end</c>, UTC, or null.</param>
public sealed record TrialWillEnd(SubscriptionUpdate Subscription, DateTimeOffset? TrialEnd);

/// <summary>Reads the dunning-related Stripe events (invoice payment outcomes, trial reminders).</summary>
public static class StripeInvoiceEvents
{
    /// <summary><c>invoice.payment_failed</c>: a payment attempt of an invoice failed (dunning starts or continues).</summary>
    public const string PaymentFailed = "invoice.payment_failed";

    /// <summary><c>invoice.paid</c>: an invoice was paid (dunning ends).</summary>
    public const string Paid = "invoice.paid";

    /// <summary><c>customer.subscription.trial_will_end</c>: sent three days before a trial ends.</summary>
    public const string TrialWillEnd = "customer.subscription.trial_will_end";

    /// <summary>The invoice event types <see cref="ReadInvoice"/> understands.</summary>
    public static readonly IReadOnlySet<string> InvoiceTypes = new[] { PaymentFailed, Paid }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>Reads an invoice event's <c>data.object</c> with <see cref="StripeSubscriptionMapper.FromInvoice"/>.</summary>
    /// <returns>The update, or an error naming what is wrong: <c>"event type '...' is not an invoice event"</c>,
    /// <c>"data.object is a '...', expected 'invoice'"</c>, <c>"id missing"</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="stripeEvent"/> is null.</exception>
    public static (InvoiceUpdate? Update, string? Error) ReadInvoice(Event stripeEvent)
    {
        ArgumentNullException.ThrowIfNull(stripeEvent);
        if (!InvoiceTypes.Contains(stripeEvent.Type))
        {
            return (null, $"event type '{stripeEvent.Type}' is not an invoice event");
        }

        return stripeEvent.Data?.Object is Invoice invoice
            ? StripeSubscriptionMapper.FromInvoice(invoice, stripeEvent.Id, stripeEvent.Type, stripeEvent.CreatedAt())
            : (null, StripeSubscriptionEvents.KindError(stripeEvent, "invoice"));
    }

    /// <summary>
    /// Reads a <c>customer.subscription.trial_will_end</c> event: the subscription (the mapper's rules and errors) and its <c>trial_end</c>.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="stripeEvent"/> is null.</exception>
    public static (TrialWillEnd? Update, string? Error) ReadTrialWillEnd(Event stripeEvent)
    {
        ArgumentNullException.ThrowIfNull(stripeEvent);
        if (stripeEvent.Type != TrialWillEnd)
        {
            return (null, $"event type '{stripeEvent.Type}' is not {TrialWillEnd}");
        }

        if (stripeEvent.Data?.Object is not Subscription subscription)
        {
            return (null, StripeSubscriptionEvents.KindError(stripeEvent, "subscription"));
        }

        var read = StripeSubscriptionMapper.FromSubscription(subscription, stripeEvent.Id, stripeEvent.Type, stripeEvent.CreatedAt());
        return read.Succeeded
            ? (new TrialWillEnd(read.Update, StripeSubscriptionMapper.Utc(subscription.TrialEnd)), null)
            : (null, read.Error);
    }
}
