using System.Text.Json;
using global::Stripe;
using global::Stripe.Checkout;

namespace EntitlementDecision.Stripe;

/// <summary>
/// The one translation from Stripe.net's objects to our updates, used for webhooks, subscriptions re-read from the API
/// and reconciliation alike. Tenant and environment come from <c>metadata.tenant_id</c> / <c>metadata.environment</c>
/// (default <c>production</c>). Fields that moved in API version 2025-03-31 (period on the items, the invoice's
/// subscription under <c>parent</c>) are read from both places, so events of older endpoints still map.
/// </summary>
public static class StripeSubscriptionMapper
{
    /// <summary>The <see cref="SubscriptionUpdate.EventType"/> of an update made from a retrieved subscription (not a Stripe event type).</summary>
    public const string RetrievedEventType = "subscription.retrieved";

    private const string DefaultEnvironment = "production"; // Engine.Identifiers.DefaultEnvironment; this project does not reference the engine

    /// <summary>
    /// The update a subscription carries: id, customer, status, item price ids (in order, no duplicates), the current
    /// period (the subscription's own fields in old API versions, else the item whose period ends first),
    /// cancel_at_period_end, canceled_at, metadata.
    /// </summary>
    /// <returns>A failure naming the problem: <c>"metadata.tenant_id missing"</c>, <c>"id missing"</c>, <c>"status missing"</c>, <c>"items.data[i].price.id missing"</c>.</returns>
    public static SubscriptionUpdateResult FromSubscription(Subscription subscription, string eventId, string eventType, DateTimeOffset eventCreated)
    {
        ArgumentNullException.ThrowIfNull(subscription);
        var metadata = subscription.Metadata ?? new Dictionary<string, string>();
        if (NonEmpty(metadata.GetValueOrDefault("tenant_id")) is not { } tenantId)
        {
            return SubscriptionUpdateResult.Failure("metadata.tenant_id missing");
        }

        if (string.IsNullOrEmpty(subscription.Id))
        {
            return SubscriptionUpdateResult.Failure("id missing");
        }

        if (string.IsNullOrEmpty(subscription.Status))
        {
            return SubscriptionUpdateResult.Failure("status missing");
        }

        var priceIds = new List<string>();
        DateTimeOffset? itemsEnd = null, itemsStart = null;
        var items = subscription.Items?.Data ?? [];
        for (var i = 0; i < items.Count; i++)
        {
            if (NonEmpty(items[i].Price?.Id) is not { } priceId)
            {
                return SubscriptionUpdateResult.Failure($"items.data[{i}].price.id missing");
            }

            if (!priceIds.Contains(priceId, StringComparer.Ordinal))
            {
                priceIds.Add(priceId);
            }

            if (Utc(items[i].CurrentPeriodEnd) is { } end && (itemsEnd is null || end < itemsEnd))
            {
                (itemsEnd, itemsStart) = (end, Utc(items[i].CurrentPeriodStart));
            }
        }

        return SubscriptionUpdateResult.Success(new SubscriptionUpdate(
            TenantId: tenantId,
            Environment: NonEmpty(metadata.GetValueOrDefault("environment")) ?? DefaultEnvironment,
            SubscriptionId: subscription.Id,
            CustomerId: NonEmpty(subscription.CustomerId),
            Status: subscription.Status,
            PriceIds: priceIds.AsReadOnly(),
            PlanIdFromMetadata: NonEmpty(metadata.GetValueOrDefault("plan_id")),
            CurrentPeriodEnd: RawTime(subscription, "current_period_end") ?? itemsEnd,
            CancelAtPeriodEnd: subscription.CancelAtPeriodEnd,
            CanceledAt: Utc(subscription.CanceledAt),
            EventId: eventId,
            EventType: eventType,
            EventCreated: eventCreated.ToUniversalTime()) { CurrentPeriodStart = RawTime(subscription, "current_period_start") ?? itemsStart });
    }

    /// <summary>A subscription retrieved at <paramref name="observedAt"/>: event id <c>"retrieved:{sub id}:{Unix ms}"</c>, type <see cref="RetrievedEventType"/>, created = <paramref name="observedAt"/> (the state is at least that recent).</summary>
    public static SubscriptionUpdateResult FromRetrieved(Subscription subscription, DateTimeOffset observedAt)
    {
        ArgumentNullException.ThrowIfNull(subscription);
        return FromSubscription(subscription, $"retrieved:{subscription.Id}:{observedAt.ToUnixTimeMilliseconds()}", RetrievedEventType, observedAt);
    }

    /// <summary>A completed checkout session: its subscription and customer ids, metadata, and <c>client_reference_id</c> as the tenant when the metadata has none.</summary>
    public static SubscriptionUpdateResult FromCheckoutSession(Session session, string eventId, string eventType, DateTimeOffset eventCreated)
    {
        ArgumentNullException.ThrowIfNull(session);
        var metadata = session.Metadata ?? new Dictionary<string, string>();
        if ((NonEmpty(metadata.GetValueOrDefault("tenant_id")) ?? NonEmpty(session.ClientReferenceId)) is not { } tenantId)
        {
            return SubscriptionUpdateResult.Failure("metadata.tenant_id and client_reference_id missing");
        }

        return SubscriptionUpdateResult.Success(new SubscriptionUpdate(
            TenantId: tenantId,
            Environment: NonEmpty(metadata.GetValueOrDefault("environment")) ?? DefaultEnvironment,
            SubscriptionId: NonEmpty(session.SubscriptionId),
            CustomerId: NonEmpty(session.CustomerId),
            Status: null,
            PriceIds: [],
            PlanIdFromMetadata: NonEmpty(metadata.GetValueOrDefault("plan_id")),
            CurrentPeriodEnd: null,
            CancelAtPeriodEnd: false,
            CanceledAt: null,
            EventId: eventId,
            EventType: eventType,
            EventCreated: eventCreated.ToUniversalTime()));
    }

    /// <summary>
    /// An invoice: its subscription (<c>parent.subscription_details.subscription</c>, or <c>subscription</c> before
    /// 2025-03-31), customer, attempt count, next attempt, and the tenant from the subscription's metadata copied onto
    /// the invoice, else the invoice's own metadata.
    /// </summary>
    /// <returns>The update, or <c>"id missing"</c>.</returns>
    public static (InvoiceUpdate? Update, string? Error) FromInvoice(Invoice invoice, string eventId, string eventType, DateTimeOffset eventCreated)
    {
        ArgumentNullException.ThrowIfNull(invoice);
        if (NonEmpty(invoice.Id) is not { } id)
        {
            return (null, "id missing");
        }

        var details = invoice.Parent?.SubscriptionDetails;
        var subscriptionId = NonEmpty(details?.SubscriptionId) ?? RawString(invoice, "subscription");
        var subscriptionMetadata = details?.Metadata ?? RawMetadata(invoice, "subscription_details");
        var source = NonEmpty(subscriptionMetadata?.GetValueOrDefault("tenant_id")) is not null ? subscriptionMetadata : invoice.Metadata;
        var tenantId = NonEmpty(source?.GetValueOrDefault("tenant_id"));
        return (new InvoiceUpdate(
            id,
            subscriptionId,
            NonEmpty(invoice.CustomerId),
            tenantId,
            tenantId is null ? null : NonEmpty(source?.GetValueOrDefault("environment")),
            (int)Math.Clamp(invoice.AttemptCount, 0, int.MaxValue),
            Utc(invoice.NextPaymentAttempt),
            eventId,
            eventType,
            eventCreated.ToUniversalTime()), null);
    }

    /// <summary>Stripe.net leaves an absent timestamp at <c>default</c> or the Unix epoch; null for those, else UTC.</summary>
    public static DateTimeOffset? Utc(DateTime? value) =>
        value is { } v && v > DateTime.UnixEpoch ? new DateTimeOffset(DateTime.SpecifyKind(v, DateTimeKind.Utc)) : null;

    // Fields of older API versions that Stripe.net's current model no longer has: read from the raw JSON.
    private static DateTimeOffset? RawTime(StripeEntity entity, string name) =>
        entity.RawJsonElement is { ValueKind: JsonValueKind.Object } raw && raw.TryGetProperty(name, out var v)
        && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var seconds) && seconds is > 0 and < 253_402_300_800
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : null;

    private static string? RawString(StripeEntity entity, string name)
    {
        if (entity.RawJsonElement is not { ValueKind: JsonValueKind.Object } raw || !raw.TryGetProperty(name, out var v))
        {
            return null;
        }

        return v.ValueKind switch
        {
            JsonValueKind.String => NonEmpty(v.GetString()),
            JsonValueKind.Object when v.TryGetProperty("id", out var inner) && inner.ValueKind == JsonValueKind.String => NonEmpty(inner.GetString()),
            _ => null,
        };
    }

    private static Dictionary<string, string>? RawMetadata(StripeEntity entity, string parent)
    {
        if (entity.RawJsonElement is not { ValueKind: JsonValueKind.Object } raw || !raw.TryGetProperty(parent, out var p)
            || p.ValueKind != JsonValueKind.Object || !p.TryGetProperty("metadata", out var m) || m.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        return m.EnumerateObject().Where(x => x.Value.ValueKind == JsonValueKind.String).ToDictionary(x => x.Name, x => x.Value.GetString()!, StringComparer.Ordinal);
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
