using System.Collections.Frozen;
using System.Text.Json;

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

    private const string DefaultEnvironment = "production";

    /// <summary>
    /// Reads the update from a handled event's <c>data.object</c>: a subscription (<c>customer.subscription.*</c>:
    /// id, customer, status, item price ids, current period end from the subscription or its items,
    /// cancel_at_period_end, canceled_at, metadata) or a checkout session (<c>checkout.session.completed</c>:
    /// <c>subscription</c> id, <c>customer</c> id, metadata, with <c>client_reference_id</c> as tenant id fallback).
    /// </summary>
    /// <param name="stripeEvent">A parsed event (see <see cref="StripeEventParser.Parse"/>).</param>
    /// <returns>
    /// An update, or a failure value (never an exception for bad content) naming what is missing or wrong:
    /// <c>"metadata.tenant_id missing"</c> (subscription), <c>"metadata.tenant_id and client_reference_id missing"</c>
    /// (checkout session), <c>"event type '...' is not handled"</c>, <c>"data.object is a '...', expected '...'"</c>,
    /// <c>"id missing"</c>, <c>"status missing"</c>, or <c>"... is not ..."</c> for an ill-typed field.
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="stripeEvent"/> is null.</exception>
    public static SubscriptionUpdateResult Read(StripeEvent stripeEvent)
    {
        ArgumentNullException.ThrowIfNull(stripeEvent);
        var obj = stripeEvent.DataObject;
        if (obj.ValueKind != JsonValueKind.Object)
        {
            return SubscriptionUpdateResult.Failure("data.object is not an object");
        }

        return stripeEvent.Type switch
        {
            CheckoutSessionCompleted => ReadCheckoutSession(stripeEvent, obj),
            SubscriptionCreated or SubscriptionUpdated or SubscriptionDeleted => ReadSubscription(stripeEvent, obj),
            _ => SubscriptionUpdateResult.Failure($"event type '{stripeEvent.Type}' is not handled"),
        };
    }

    private static SubscriptionUpdateResult ReadSubscription(StripeEvent e, JsonElement sub)
    {
        if (ObjectKindError(sub, "subscription") is { } kindError)
        {
            return SubscriptionUpdateResult.Failure(kindError);
        }

        var metadata = Metadata(sub, out var metadataError);
        if (metadataError is not null)
        {
            return SubscriptionUpdateResult.Failure(metadataError);
        }

        var tenantId = NonEmpty(StripeJson.GetStringOrNull(metadata, "tenant_id"));
        if (tenantId is null)
        {
            return SubscriptionUpdateResult.Failure("metadata.tenant_id missing");
        }

        var id = NonEmpty(StripeJson.GetStringOrNull(sub, "id"));
        if (id is null)
        {
            return SubscriptionUpdateResult.Failure("id missing");
        }

        var status = NonEmpty(StripeJson.GetStringOrNull(sub, "status"));
        if (status is null)
        {
            return SubscriptionUpdateResult.Failure("status missing");
        }

        var priceIds = new List<string>();
        DateTimeOffset? itemsPeriodEnd = null;
        DateTimeOffset? itemsPeriodStart = null;
        if (sub.TryGetProperty("items", out var items) && items.ValueKind == JsonValueKind.Object
            && items.TryGetProperty("data", out var itemData))
        {
            if (itemData.ValueKind != JsonValueKind.Array)
            {
                return SubscriptionUpdateResult.Failure("items.data is not an array");
            }

            var index = 0;
            foreach (var item in itemData.EnumerateArray())
            {
                var priceId = NonEmpty(StripeJson.GetExpandableId(item, "price"));
                if (priceId is null)
                {
                    return SubscriptionUpdateResult.Failure($"items.data[{index}].price.id missing");
                }

                if (!priceIds.Contains(priceId, StringComparer.Ordinal))
                {
                    priceIds.Add(priceId);
                }

                switch (OptionalTime(item, "current_period_end", out var itemEnd))
                {
                    case false:
                        return SubscriptionUpdateResult.Failure($"items.data[{index}].current_period_end is not Unix seconds");
                    case true when itemEnd is { } end && (itemsPeriodEnd is null || end < itemsPeriodEnd):
                        itemsPeriodEnd = end;
                        if (OptionalTime(item, "current_period_start", out var itemStart) is false)
                        {
                            return SubscriptionUpdateResult.Failure($"items.data[{index}].current_period_start is not Unix seconds");
                        }

                        itemsPeriodStart = itemStart;
                        break;
                }

                index++;
            }
        }

        if (OptionalTime(sub, "current_period_end", out var periodEnd) is false)
        {
            return SubscriptionUpdateResult.Failure("current_period_end is not Unix seconds");
        }

        if (OptionalTime(sub, "current_period_start", out var periodStart) is false)
        {
            return SubscriptionUpdateResult.Failure("current_period_start is not Unix seconds");
        }

        if (OptionalTime(sub, "canceled_at", out var canceledAt) is false)
        {
            return SubscriptionUpdateResult.Failure("canceled_at is not Unix seconds");
        }

        var cancelAtPeriodEnd = false;
        if (sub.TryGetProperty("cancel_at_period_end", out var cape))
        {
            switch (cape.ValueKind)
            {
                case JsonValueKind.True: cancelAtPeriodEnd = true; break;
                case JsonValueKind.False or JsonValueKind.Null: break;
                default: return SubscriptionUpdateResult.Failure("cancel_at_period_end is not a boolean");
            }
        }

        return SubscriptionUpdateResult.Success(new SubscriptionUpdate(
            TenantId: tenantId,
            Environment: NonEmpty(StripeJson.GetStringOrNull(metadata, "environment")) ?? DefaultEnvironment,
            SubscriptionId: id,
            CustomerId: NonEmpty(StripeJson.GetExpandableId(sub, "customer")),
            Status: status,
            PriceIds: priceIds.AsReadOnly(),
            PlanIdFromMetadata: NonEmpty(StripeJson.GetStringOrNull(metadata, "plan_id")),
            CurrentPeriodEnd: periodEnd ?? itemsPeriodEnd,
            CancelAtPeriodEnd: cancelAtPeriodEnd,
            CanceledAt: canceledAt,
            EventId: e.Id,
            EventType: e.Type,
            EventCreated: e.Created) { CurrentPeriodStart = periodStart ?? itemsPeriodStart });
    }

    private static SubscriptionUpdateResult ReadCheckoutSession(StripeEvent e, JsonElement session)
    {
        if (ObjectKindError(session, "checkout.session") is { } kindError)
        {
            return SubscriptionUpdateResult.Failure(kindError);
        }

        var metadata = Metadata(session, out var metadataError);
        if (metadataError is not null)
        {
            return SubscriptionUpdateResult.Failure(metadataError);
        }

        var tenantId = NonEmpty(StripeJson.GetStringOrNull(metadata, "tenant_id"))
            ?? NonEmpty(StripeJson.GetStringOrNull(session, "client_reference_id"));
        if (tenantId is null)
        {
            return SubscriptionUpdateResult.Failure("metadata.tenant_id and client_reference_id missing");
        }

        return SubscriptionUpdateResult.Success(new SubscriptionUpdate(
            TenantId: tenantId,
            Environment: NonEmpty(StripeJson.GetStringOrNull(metadata, "environment")) ?? DefaultEnvironment,
            SubscriptionId: NonEmpty(StripeJson.GetExpandableId(session, "subscription")),
            CustomerId: NonEmpty(StripeJson.GetExpandableId(session, "customer")),
            Status: null,
            PriceIds: [],
            PlanIdFromMetadata: NonEmpty(StripeJson.GetStringOrNull(metadata, "plan_id")),
            CurrentPeriodEnd: null,
            CancelAtPeriodEnd: false,
            CanceledAt: null,
            EventId: e.Id,
            EventType: e.Type,
            EventCreated: e.Created));
    }

    private static string? ObjectKindError(JsonElement obj, string expected)
    {
        var kind = StripeJson.GetStringOrNull(obj, "object");
        return kind is null || kind == expected ? null : $"data.object is a '{kind}', expected '{expected}'";
    }

    /// <summary>The metadata object, or an Undefined element when absent/null; error when of another type.</summary>
    private static JsonElement Metadata(JsonElement obj, out string? error)
    {
        error = null;
        if (!obj.TryGetProperty("metadata", out var metadata) || metadata.ValueKind == JsonValueKind.Null)
        {
            return default;
        }

        if (metadata.ValueKind != JsonValueKind.Object)
        {
            error = "metadata is not an object";
            return default;
        }

        return metadata;
    }

    /// <summary>Reads an optional Unix-seconds field: false when ill-typed, else true with the value (null when absent or null).</summary>
    private static bool? OptionalTime(JsonElement obj, string name, out DateTimeOffset? value)
    {
        value = null;
        if (!obj.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (!StripeJson.TryGetUnixTime(element, out var time))
        {
            return false;
        }

        value = time;
        return true;
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
