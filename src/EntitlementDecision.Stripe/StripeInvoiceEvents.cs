using System.Collections.Frozen;
using System.Text.Json;

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

    /// <summary>
    /// Reads an invoice event's <c>data.object</c>.
    /// </summary>
    /// <returns>The update, or an error naming what is wrong: <c>"event type '...' is not an invoice event"</c>,
    /// <c>"data.object is a '...', expected 'invoice'"</c>, <c>"id missing"</c>, <c>"attempt_count is not an integer"</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="stripeEvent"/> is null.</exception>
    public static (InvoiceUpdate? Update, string? Error) ReadInvoice(StripeEvent stripeEvent)
    {
        ArgumentNullException.ThrowIfNull(stripeEvent);
        if (!InvoiceTypes.Contains(stripeEvent.Type))
        {
            return (null, $"event type '{stripeEvent.Type}' is not an invoice event");
        }

        var invoice = stripeEvent.DataObject;
        if (invoice.ValueKind != JsonValueKind.Object)
        {
            return (null, "data.object is not an object");
        }

        if (StripeJson.GetStringOrNull(invoice, "object") is { } kind && kind != "invoice")
        {
            return (null, $"data.object is a '{kind}', expected 'invoice'");
        }

        var id = NonEmpty(StripeJson.GetStringOrNull(invoice, "id"));
        if (id is null)
        {
            return (null, "id missing");
        }

        var attempts = 0;
        if (invoice.TryGetProperty("attempt_count", out var count) && count.ValueKind != JsonValueKind.Null)
        {
            if (count.ValueKind != JsonValueKind.Number || !count.TryGetInt32(out attempts) || attempts < 0)
            {
                return (null, "attempt_count is not an integer");
            }
        }

        DateTimeOffset? nextAttempt = null;
        if (invoice.TryGetProperty("next_payment_attempt", out var next) && next.ValueKind != JsonValueKind.Null)
        {
            if (!StripeJson.TryGetUnixTime(next, out var at))
            {
                return (null, "next_payment_attempt is not Unix seconds");
            }

            nextAttempt = at;
        }

        // The subscription: top-level "subscription" (older API versions) or parent.subscription_details (2025-03-31 on).
        string? subscriptionId = NonEmpty(StripeJson.GetExpandableId(invoice, "subscription"));
        JsonElement subscriptionMetadata = default;
        if (invoice.TryGetProperty("parent", out var parent) && parent.ValueKind == JsonValueKind.Object
            && parent.TryGetProperty("subscription_details", out var details) && details.ValueKind == JsonValueKind.Object)
        {
            subscriptionId ??= NonEmpty(StripeJson.GetExpandableId(details, "subscription"));
            subscriptionMetadata = ObjectOrDefault(details, "metadata");
        }

        if (subscriptionMetadata.ValueKind != JsonValueKind.Object
            && invoice.TryGetProperty("subscription_details", out var oldDetails) && oldDetails.ValueKind == JsonValueKind.Object)
        {
            subscriptionMetadata = ObjectOrDefault(oldDetails, "metadata");
        }

        var ownMetadata = ObjectOrDefault(invoice, "metadata");
        var source = subscriptionMetadata.ValueKind == JsonValueKind.Object && NonEmpty(StripeJson.GetStringOrNull(subscriptionMetadata, "tenant_id")) is not null
            ? subscriptionMetadata
            : ownMetadata;
        var tenantId = source.ValueKind == JsonValueKind.Object ? NonEmpty(StripeJson.GetStringOrNull(source, "tenant_id")) : null;
        var environment = tenantId is not null ? NonEmpty(StripeJson.GetStringOrNull(source, "environment")) : null;

        return (new InvoiceUpdate(
            id,
            subscriptionId,
            NonEmpty(StripeJson.GetExpandableId(invoice, "customer")),
            tenantId,
            environment,
            attempts,
            nextAttempt,
            stripeEvent.Id,
            stripeEvent.Type,
            stripeEvent.Created), null);
    }

    /// <summary>
    /// Reads a <c>customer.subscription.trial_will_end</c> event: the subscription (same rules and errors as
    /// <see cref="StripeSubscriptionEvents.Read"/>) and its <c>trial_end</c>.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="stripeEvent"/> is null.</exception>
    public static (TrialWillEnd? Update, string? Error) ReadTrialWillEnd(StripeEvent stripeEvent)
    {
        ArgumentNullException.ThrowIfNull(stripeEvent);
        if (stripeEvent.Type != TrialWillEnd)
        {
            return (null, $"event type '{stripeEvent.Type}' is not {TrialWillEnd}");
        }

        // The payload is a subscription: read it with the subscription rules under the type they understand.
        var read = StripeSubscriptionEvents.Read(stripeEvent with { Type = StripeSubscriptionEvents.SubscriptionUpdated });
        if (!read.Succeeded)
        {
            return (null, read.Error);
        }

        DateTimeOffset? trialEnd = null;
        if (stripeEvent.DataObject.TryGetProperty("trial_end", out var end) && end.ValueKind != JsonValueKind.Null)
        {
            if (!StripeJson.TryGetUnixTime(end, out var at))
            {
                return (null, "trial_end is not Unix seconds");
            }

            trialEnd = at;
        }

        return (new TrialWillEnd(read.Update with { EventType = stripeEvent.Type }, trialEnd), null);
    }

    private static JsonElement ObjectOrDefault(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object ? value : default;

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
