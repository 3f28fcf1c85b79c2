using System.Text.Json;
using System.Text.Json.Serialization;

namespace EntitlementDecision.Stripe.Api;

// Stripe's objects as this product reads them (Stripe API reference, version StripeApiClient.ApiVersion). Only the
// fields used are declared; the rest of Stripe's JSON is ignored. Timestamps are Unix seconds on the wire and
// DateTimeOffset (UTC) here; expandable fields (customer, subscription, latest_invoice, product) read as the id whether
// Stripe sent the id or the expanded object. Deserialized with StripeApiJson.Options (snake_case).

/// <summary>A page of a Stripe list (<c>object: "list"</c>): <c>data</c> and <c>has_more</c> (more items after the last one).</summary>
public sealed record StripeList<T>(IReadOnlyList<T> Data, bool HasMore, string? Url = null);

/// <summary>A Stripe customer (<c>cus_...</c>).</summary>
public sealed record Customer(
    string Id,
    string? Email,
    string? Name,
    IReadOnlyDictionary<string, string>? Metadata,
    [property: JsonConverter(typeof(UnixSecondsConverter))] DateTimeOffset Created,
    bool Livemode);

/// <summary>A Checkout Session (<c>cs_...</c>); send the customer to <see cref="Url"/>.</summary>
/// <param name="Status"><c>open</c>, <c>complete</c> or <c>expired</c>.</param>
/// <param name="Subscription">The subscription (<c>sub_...</c>) once the session completed, else null.</param>
public sealed record CheckoutSession(
    string Id,
    string? Url,
    string? Mode,
    string? Status,
    string? PaymentStatus,
    [property: JsonConverter(typeof(ExpandableIdConverter))] string? Customer,
    [property: JsonConverter(typeof(ExpandableIdConverter))] string? Subscription,
    string? ClientReferenceId,
    IReadOnlyDictionary<string, string>? Metadata,
    string? SuccessUrl,
    string? CancelUrl,
    [property: JsonConverter(typeof(NullableUnixSecondsConverter))] DateTimeOffset? ExpiresAt,
    [property: JsonConverter(typeof(UnixSecondsConverter))] DateTimeOffset Created);

/// <summary>A customer portal session (<c>bps_...</c>); send the customer to <see cref="Url"/>.</summary>
public sealed record PortalSession(
    string Id,
    string Url,
    [property: JsonConverter(typeof(ExpandableIdConverter))] string? Customer,
    string? ReturnUrl,
    [property: JsonConverter(typeof(UnixSecondsConverter))] DateTimeOffset Created);

/// <summary>A price's <c>recurring</c> part: <c>interval</c> (day, week, month, year) and <c>interval_count</c>.</summary>
public sealed record PriceRecurring(string Interval, int IntervalCount);

/// <summary>A Stripe price (<c>price_...</c>).</summary>
/// <param name="UnitAmount">In the currency's smallest unit (cents for usd); null for tiered or custom-amount prices.</param>
/// <param name="Currency">Three-letter ISO code, lower case.</param>
/// <param name="Type"><c>recurring</c> or <c>one_time</c>.</param>
/// <param name="Recurring">Null for a one-time price.</param>
public sealed record Price(
    string Id,
    bool Active,
    string Currency,
    long? UnitAmount,
    string? Type,
    PriceRecurring? Recurring,
    [property: JsonConverter(typeof(ExpandableIdConverter))] string? Product,
    string? LookupKey,
    IReadOnlyDictionary<string, string>? Metadata);

/// <summary>A subscription item (<c>si_...</c>): one price of a subscription. Since API version 2025-03-31 the billing period lives here.</summary>
public sealed record SubscriptionItem(
    string Id,
    Price Price,
    long? Quantity,
    [property: JsonConverter(typeof(NullableUnixSecondsConverter))] DateTimeOffset? CurrentPeriodStart,
    [property: JsonConverter(typeof(NullableUnixSecondsConverter))] DateTimeOffset? CurrentPeriodEnd);

/// <summary>
/// A Stripe subscription (<c>sub_...</c>). <see cref="CurrentPeriodStart"/>/<see cref="CurrentPeriodEnd"/> are the
/// top-level fields of API versions before 2025-03-31 (null in newer ones); use <see cref="PeriodStart"/> and
/// <see cref="PeriodEnd"/>, which fall back to the items.
/// </summary>
/// <param name="Status">trialing, active, past_due, unpaid, canceled, incomplete, incomplete_expired, paused (or a later value).</param>
/// <param name="LatestInvoice">Id of the latest invoice (<c>in_...</c>), or null.</param>
public sealed record Subscription(
    string Id,
    [property: JsonConverter(typeof(ExpandableIdConverter))] string? Customer,
    string Status,
    StripeList<SubscriptionItem> Items,
    [property: JsonConverter(typeof(NullableUnixSecondsConverter))] DateTimeOffset? CurrentPeriodStart,
    [property: JsonConverter(typeof(NullableUnixSecondsConverter))] DateTimeOffset? CurrentPeriodEnd,
    bool CancelAtPeriodEnd,
    [property: JsonConverter(typeof(NullableUnixSecondsConverter))] DateTimeOffset? CancelAt,
    [property: JsonConverter(typeof(NullableUnixSecondsConverter))] DateTimeOffset? CanceledAt,
    [property: JsonConverter(typeof(NullableUnixSecondsConverter))] DateTimeOffset? TrialStart,
    [property: JsonConverter(typeof(NullableUnixSecondsConverter))] DateTimeOffset? TrialEnd,
    IReadOnlyDictionary<string, string>? Metadata,
    [property: JsonConverter(typeof(ExpandableIdConverter))] string? LatestInvoice,
    [property: JsonConverter(typeof(UnixSecondsConverter))] DateTimeOffset Created,
    bool Livemode)
{
    /// <summary>Price ids of the items, in item order, without duplicates.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> PriceIds => ItemList.Select(i => i.Price.Id).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>Start of the current period: the top-level field, else the start of the item whose period ends first (as <see cref="StripeSubscriptionEvents"/> reads webhooks).</summary>
    [JsonIgnore]
    public DateTimeOffset? PeriodStart => CurrentPeriodStart
        ?? ItemList.Where(i => i.CurrentPeriodEnd is not null).MinBy(i => i.CurrentPeriodEnd)?.CurrentPeriodStart
        ?? ItemList.FirstOrDefault()?.CurrentPeriodStart;

    /// <summary>End of the current period: the top-level field, else the earliest end among the items (as <see cref="StripeSubscriptionEvents"/> reads webhooks).</summary>
    [JsonIgnore]
    public DateTimeOffset? PeriodEnd => CurrentPeriodEnd ?? ItemList.Min(i => i.CurrentPeriodEnd);

    private IReadOnlyList<SubscriptionItem> ItemList => Items?.Data ?? [];
}

/// <summary>A Stripe invoice (<c>in_...</c>). Amounts in the currency's smallest unit.</summary>
/// <param name="Status">draft, open, paid, uncollectible, void.</param>
/// <param name="Subscription">The top-level <c>subscription</c> of API versions before 2025-03-31; use <see cref="SubscriptionId"/>.</param>
/// <param name="Parent">Since 2025-03-31: <c>parent.subscription_details.subscription</c> names the subscription.</param>
public sealed record Invoice(
    string Id,
    [property: JsonConverter(typeof(ExpandableIdConverter))] string? Customer,
    [property: JsonConverter(typeof(ExpandableIdConverter))] string? Subscription,
    InvoiceParent? Parent,
    string? Status,
    string Currency,
    long AmountDue,
    long AmountPaid,
    long AmountRemaining,
    long AttemptCount,
    string? BillingReason,
    string? HostedInvoiceUrl,
    [property: JsonConverter(typeof(NullableUnixSecondsConverter))] DateTimeOffset? PeriodStart,
    [property: JsonConverter(typeof(NullableUnixSecondsConverter))] DateTimeOffset? PeriodEnd,
    [property: JsonConverter(typeof(NullableUnixSecondsConverter))] DateTimeOffset? NextPaymentAttempt,
    [property: JsonConverter(typeof(UnixSecondsConverter))] DateTimeOffset Created)
{
    /// <summary>The subscription this invoice bills, from either API shape, or null.</summary>
    [JsonIgnore]
    public string? SubscriptionId => Parent?.SubscriptionDetails?.Subscription ?? Subscription;
}

/// <summary>An invoice's <c>parent</c> (API versions from 2025-03-31).</summary>
public sealed record InvoiceParent(string? Type, InvoiceSubscriptionDetails? SubscriptionDetails);

/// <summary><c>parent.subscription_details</c> of an invoice.</summary>
public sealed record InvoiceSubscriptionDetails(
    [property: JsonConverter(typeof(ExpandableIdConverter))] string? Subscription,
    IReadOnlyDictionary<string, string>? Metadata);

/// <summary>An event as listed by <c>GET /v1/events</c> (the same envelope webhooks deliver).</summary>
/// <param name="Data"><c>data</c>: <c>object</c> (the resource as of the event) and, for updates, <c>previous_attributes</c>.</param>
public sealed record Event(
    string Id,
    string Type,
    [property: JsonConverter(typeof(UnixSecondsConverter))] DateTimeOffset Created,
    bool Livemode,
    string? ApiVersion,
    EventData Data)
{
    /// <summary>The same event as the webhook parser's <see cref="StripeEvent"/>, for <see cref="StripeSubscriptionEvents.Read"/>.</summary>
    public StripeEvent ToStripeEvent() => new(Id, Type, Created, Livemode, ApiVersion, Data.Object);
}

/// <summary>An event's <c>data</c>.</summary>
public sealed record EventData(JsonElement Object, JsonElement? PreviousAttributes);
