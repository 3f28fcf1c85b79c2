using System.Collections.Frozen;
using global::Stripe;
using global::Stripe.Checkout;

namespace EntitlementDecision.Stripe;

/// <summary>
/// Reads the Stripe events that change a tenant's subscription (Stripe API: "Subscription object",
/// "Checkout Session object", "Types of events").
/// </summary>
public static class StripeSubscriptionEvents
{
    /// <summary><c>checkout.session.completed</c>.</summary>
    public const string CheckoutSessionCompleted = "checkout.session.completed";

    /// <summary><c>customer.subscription.created</c>.</summary>
    public const string SubscriptionCreated = "customer.subscription.created";

    /// <summary><c>customer.subscription.updated</c>.</summary>
    public const string SubscriptionUpdated = "customer.subscription.updated";

    /// <summary><c>customer.subscription.deleted</c> (the subscription has ended; its status is <c>canceled</c>).</summary>
    public const string SubscriptionDeleted = "customer.subscription.deleted";

    /// <summary>The event types <see cref="Read"/> understands (ordinal, case-sensitive, as Stripe sends them):
    /// <c>checkout.session.completed</c>, <c>customer.subscription.created</c>, <c>customer.subscription.updated</c>,
    /// <c>customer.subscription.deleted</c>. Acknowledge and ignore other types.</summary>
    public static readonly IReadOnlySet<string> HandledTypes = new[]
    {
        CheckoutSessionCompleted, SubscriptionCreated, SubscriptionUpdated, SubscriptionDeleted,
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>
    /// The update of a handled event: <c>customer.subscription.*</c> (a subscription) or <c>checkout.session.completed</c>
    /// (a checkout session), by <see cref="StripeSubscriptionMapper"/>.
    /// </summary>
    /// <returns>An update, or a failure value naming what is missing or wrong: <c>"event type '...' is not handled"</c>,
    /// <c>"data.object is a '...', expected '...'"</c>, or the mapper's errors.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="stripeEvent"/> is null.</exception>
    public static SubscriptionUpdateResult Read(Event stripeEvent)
    {
        ArgumentNullException.ThrowIfNull(stripeEvent);
        var created = stripeEvent.CreatedAt();
        return stripeEvent.Type switch
        {
            CheckoutSessionCompleted => stripeEvent.Data?.Object is Session session
                ? StripeSubscriptionMapper.FromCheckoutSession(session, stripeEvent.Id, stripeEvent.Type, created)
                : SubscriptionUpdateResult.Failure(KindError(stripeEvent, "checkout.session")),
            SubscriptionCreated or SubscriptionUpdated or SubscriptionDeleted => stripeEvent.Data?.Object is Subscription subscription
                ? StripeSubscriptionMapper.FromSubscription(subscription, stripeEvent.Id, stripeEvent.Type, created)
                : SubscriptionUpdateResult.Failure(KindError(stripeEvent, "subscription")),
            _ => SubscriptionUpdateResult.Failure($"event type '{stripeEvent.Type}' is not handled"),
        };
    }

    internal static string KindError(Event stripeEvent, string expected) =>
        $"data.object is a '{stripeEvent.DataObjectKind() ?? "(unknown)"}', expected '{expected}'";
}
