using Stripe;
using Stripe.Checkout;

namespace EntitlementDecision.Stripe.Api;

/// <summary>
/// The narrow port to Stripe's API that the control plane uses (Customers, Checkout Sessions, Customer Portal Sessions,
/// Subscriptions, Prices), in Stripe.net's types; the rest of the control plane never sees HTTP. Implemented by
/// <see cref="StripeNetBilling"/> on <see cref="StripeClient"/>.
/// </summary>
/// <remarks>
/// <para>Every create or update takes an <c>operationId</c>: a stable id of the caller's own operation (e.g.
/// <c>"checkout:{tenant}:{environment}:{request id}"</c>). <see cref="RequestOptions.IdempotencyKey"/> is derived from it
/// (<see cref="StripeNetBilling.IdempotencyKeyFor"/>) and sent unchanged on every retry, so a repeated operation never
/// creates a second object in Stripe.</para>
/// <para>Errors: Stripe's error answers throw <see cref="StripeException"/>; transport failures and timeouts too, with
/// <see cref="StripeError.Type"/> <c>api_connection_error</c> and no HTTP status (<see cref="StripeErrors"/>). Map one to
/// an HTTP answer with <see cref="StripeProblemDetails.From"/>. A retrieve of an id Stripe does not know (404
/// <c>resource_missing</c>) returns null instead of throwing.</para>
/// </remarks>
public interface IStripeBilling
{
    /// <summary><c>POST /v1/customers</c>: creates a customer.</summary>
    Task<Customer> CreateCustomerAsync(CreateCustomerRequest request, string operationId, CancellationToken cancellationToken = default);

    /// <summary><c>POST /v1/checkout/sessions</c> in <c>mode=subscription</c> for one price (see <see cref="CreateCheckoutSessionRequest"/>).</summary>
    Task<Session> CreateCheckoutSessionAsync(CreateCheckoutSessionRequest request, string operationId, CancellationToken cancellationToken = default);

    /// <summary><c>GET /v1/checkout/sessions/{id}</c> (status open | complete | expired, payment_status paid | unpaid | no_payment_required); null when Stripe does not know the id.</summary>
    Task<Session?> GetCheckoutSessionAsync(string sessionId, CancellationToken cancellationToken = default);

    /// <summary><c>POST /v1/billing_portal/sessions</c>: a customer portal session (its <c>Url</c> is where to send the customer).</summary>
    Task<global::Stripe.BillingPortal.Session> CreatePortalSessionAsync(CreatePortalSessionRequest request, string operationId, CancellationToken cancellationToken = default);

    /// <summary><c>GET /v1/subscriptions/{id}</c>; null when Stripe does not know the id.</summary>
    Task<Subscription?> GetSubscriptionAsync(string subscriptionId, CancellationToken cancellationToken = default);

    /// <summary><c>GET /v1/subscriptions</c>, every page (newest first): by customer, status (a Stripe status, <c>all</c>, or null for all but canceled) and price.</summary>
    IAsyncEnumerable<Subscription> ListSubscriptionsAsync(string? customerId, string? status, string? priceId, CancellationToken cancellationToken = default);

    /// <summary><c>GET /v1/invoices?customer=</c>: the customer's newest invoices (one page of at most <paramref name="limit"/>, 1..100), newest first.</summary>
    Task<IReadOnlyList<Invoice>> ListInvoicesAsync(string customerId, int limit, CancellationToken cancellationToken = default);

    /// <summary><c>POST /v1/subscriptions/{id}</c>: a plan change (item price, proration), cancel at period end, and/or a pause of payment collection.</summary>
    Task<Subscription> UpdateSubscriptionAsync(string subscriptionId, UpdateSubscriptionRequest request, string operationId, CancellationToken cancellationToken = default);

    /// <summary><c>GET /v1/prices/{id}</c>; null when Stripe does not know the id.</summary>
    Task<Price?> GetPriceAsync(string priceId, CancellationToken cancellationToken = default);
}

/// <summary>Parameters of <c>POST /v1/customers</c>.</summary>
/// <param name="Email">The customer's email, or null.</param>
/// <param name="Name">The customer's name, or null.</param>
/// <param name="Metadata">Sent as <c>metadata[key]=value</c>; use <c>tenant_id</c> and <c>environment</c> to tie the customer to a tenant.</param>
public sealed record CreateCustomerRequest(
    string? Email = null,
    string? Name = null,
    IReadOnlyDictionary<string, string>? Metadata = null);

/// <summary>
/// Parameters of <c>POST /v1/checkout/sessions</c> for a subscription to one plan price. Sent as <c>mode=subscription</c>,
/// <c>line_items[0][price]</c>, <c>line_items[0][quantity]</c>, <c>customer</c> (or <c>customer_email</c>),
/// <c>client_reference_id</c> = tenant id, <c>metadata[tenant_id]</c>, <c>metadata[environment]</c> (plus
/// <see cref="Metadata"/>), the same metadata again as <c>subscription_data[metadata][...]</c> so the subscription
/// carries the tenant, <c>subscription_data[trial_period_days]</c> when <see cref="TrialPeriodDays"/> &gt; 0, and the
/// success and cancel URLs.
/// </summary>
/// <param name="TenantId">The tenant subscribing (<c>client_reference_id</c> and <c>metadata[tenant_id]</c>).</param>
/// <param name="Environment">The tenant's environment (<c>metadata[environment]</c>), e.g. <c>production</c>.</param>
/// <param name="PriceId">The plan's Stripe price id (<c>price_...</c>).</param>
/// <param name="SuccessUrl">Where Checkout sends the customer after paying (may contain <c>{CHECKOUT_SESSION_ID}</c>).</param>
/// <param name="CancelUrl">Where Checkout sends the customer when they go back.</param>
/// <param name="CustomerId">An existing customer (<c>cus_...</c>), or null to let Checkout create one.</param>
/// <param name="CustomerEmail">Prefills the email when <paramref name="CustomerId"/> is null.</param>
/// <param name="TrialPeriodDays">The plan's trial in days; null or 0 for none.</param>
/// <param name="Quantity">Units of the price, at least 1.</param>
/// <param name="Metadata">More metadata (e.g. <c>plan_id</c>), on the session and on the subscription.</param>
public sealed record CreateCheckoutSessionRequest(
    string TenantId,
    string Environment,
    string PriceId,
    string SuccessUrl,
    string CancelUrl,
    string? CustomerId = null,
    string? CustomerEmail = null,
    int? TrialPeriodDays = null,
    long Quantity = 1,
    IReadOnlyDictionary<string, string>? Metadata = null);

/// <summary>Parameters of <c>POST /v1/billing_portal/sessions</c>.</summary>
/// <param name="CustomerId">The customer (<c>cus_...</c>).</param>
/// <param name="ReturnUrl">Where the portal's "return" link goes.</param>
public sealed record CreatePortalSessionRequest(string CustomerId, string ReturnUrl);

/// <summary>
/// Parameters of <c>POST /v1/subscriptions/{id}</c>. A plan change sets <see cref="ItemId"/> and <see cref="PriceId"/>
/// (sent as <c>items[0][id]</c>, <c>items[0][price]</c>) and usually <see cref="ProrationBehavior"/>; null fields are not sent.
/// </summary>
/// <param name="ItemId">The subscription item to change (<c>si_...</c>, from <c>Stripe.Subscription.Items</c>).</param>
/// <param name="PriceId">Its new price.</param>
/// <param name="ProrationBehavior"><c>create_prorations</c> (Stripe's default), <c>always_invoice</c> or <c>none</c>.</param>
/// <param name="CancelAtPeriodEnd">True to cancel when the current period ends; false to undo that.</param>
/// <param name="Metadata">Metadata keys to set (<c>metadata[key]=value</c>; an empty value removes the key, as in Stripe).</param>
/// <param name="PauseCollection">Stripe's "pause payment collection": <c>keep_as_draft</c>, <c>mark_uncollectible</c> or <c>void</c>
/// (sent as <c>pause_collection[behavior]</c>, no <c>resumes_at</c>: the pause lasts until cleared); an empty string clears it
/// (<c>pause_collection=</c>, collection resumes); null: not sent. Another value throws <see cref="ArgumentException"/>.</param>
public sealed record UpdateSubscriptionRequest(
    string? ItemId = null,
    string? PriceId = null,
    string? ProrationBehavior = null,
    bool? CancelAtPeriodEnd = null,
    IReadOnlyDictionary<string, string>? Metadata = null,
    string? PauseCollection = null);
