using System.Diagnostics.CodeAnalysis;

namespace EntitlementDecision.Stripe;

/// <summary>
/// What a subscription-bearing Stripe event says about a tenant's subscription, read by
/// <see cref="StripeSubscriptionEvents.Read"/>. Stripe-neutral values only: mapping price ids to plans and
/// statuses to entitlement is the caller's job.
/// </summary>
/// <param name="TenantId">From the object's <c>metadata.tenant_id</c>; for a checkout session, falls back to <c>client_reference_id</c>. Never empty.</param>
/// <param name="Environment">From <c>metadata.environment</c>; <c>"production"</c> when absent or empty.</param>
/// <param name="SubscriptionId"><c>sub_...</c>: the subscription's <c>id</c>, or a checkout session's <c>subscription</c> (null for a session without one, e.g. <c>mode: payment</c>).</param>
/// <param name="CustomerId"><c>cus_...</c> from <c>customer</c> (id string or expanded object), or null.</param>
/// <param name="Status">Stripe's subscription status as-is (trialing, active, past_due, unpaid, canceled, incomplete, incomplete_expired, paused, or a value added later); null for <c>checkout.session.completed</c> (the subscription events carry the status).</param>
/// <param name="PriceIds">Price ids (<c>price_...</c>) of <c>items.data[].price</c>, in item order, without duplicates; empty for a checkout session. Only the first page of items that the event embeds.</param>
/// <param name="PlanIdFromMetadata"><c>metadata.plan_id</c> if present, else null.</param>
/// <param name="CurrentPeriodEnd">End of the paid period, UTC: the subscription's <c>current_period_end</c>, or when absent there (API versions from 2025-03-31 on) the earliest <c>items.data[].current_period_end</c>; null for a checkout session or when neither is present.</param>
/// <param name="CancelAtPeriodEnd"><c>cancel_at_period_end</c> (false when absent).</param>
/// <param name="CanceledAt"><c>canceled_at</c>, UTC, or null.</param>
/// <param name="EventId">The event's <c>id</c> (<c>evt_...</c>).</param>
/// <param name="EventType">The event's <c>type</c>.</param>
/// <param name="EventCreated">The event's <c>created</c>, UTC: use it to ignore updates older than the last applied one (Stripe does not guarantee delivery order).</param>
public sealed record SubscriptionUpdate(
    string TenantId,
    string Environment,
    string? SubscriptionId,
    string? CustomerId,
    string? Status,
    IReadOnlyList<string> PriceIds,
    string? PlanIdFromMetadata,
    DateTimeOffset? CurrentPeriodEnd,
    bool CancelAtPeriodEnd,
    DateTimeOffset? CanceledAt,
    string EventId,
    string EventType,
    DateTimeOffset EventCreated)
{
    /// <summary>Start of the current billing period, UTC: the subscription's <c>current_period_start</c>, or when absent there the
    /// <c>items.data[].current_period_start</c> of the item whose period ends first; null when neither is present.</summary>
    public DateTimeOffset? CurrentPeriodStart { get; init; }
}

/// <summary>
/// Result of <see cref="StripeSubscriptionEvents.Read"/>: exactly one of <see cref="Update"/> and <see cref="Error"/> is set.
/// </summary>
/// <param name="Update">The update, when the event could be read.</param>
/// <param name="Error">Why not, naming what is missing or wrong, e.g. <c>"metadata.tenant_id missing"</c>.</param>
public readonly record struct SubscriptionUpdateResult(SubscriptionUpdate? Update, string? Error)
{
    /// <summary>True when <see cref="Update"/> is set.</summary>
    [MemberNotNullWhen(true, nameof(Update))]
    [MemberNotNullWhen(false, nameof(Error))]
    public bool Succeeded => Update is not null;

    /// <summary>A successful result.</summary>
    public static SubscriptionUpdateResult Success(SubscriptionUpdate update) => new(update ?? throw new ArgumentNullException(nameof(update)), null);

    /// <summary>A failed result.</summary>
    public static SubscriptionUpdateResult Failure(string error) => new(null, error);
}
