namespace EntitlementDecision.Stripe.Api;

/// <summary>
/// The part of Stripe's HTTP API this product uses (Stripe API reference: Customers, Checkout Sessions, Customer Portal
/// Sessions, Subscriptions, Invoices, Events, Prices), and nothing more. Implemented by <see cref="StripeApiClient"/>
/// on HttpClient because Stripe.net cannot be restored here; keep callers on this interface so the official library
/// can replace it later.
/// </summary>
/// <remarks>
/// <para>Every POST takes an <c>operationId</c>: a stable id of the caller's own operation (e.g.
/// <c>"checkout:{tenant}:{environment}:{request id}"</c>). The <c>Idempotency-Key</c> header is derived from it
/// deterministically (<see cref="StripeApiClient.IdempotencyKeyFor"/>) and sent unchanged on every retry, so a
/// repeated operation never creates a second object in Stripe.</para>
/// <para>Errors: Stripe's error answers and transport failures (after retries) throw <see cref="StripeApiException"/>;
/// map it to an HTTP answer with <see cref="StripeProblemDetails.From"/>. A retrieve of an id Stripe does not know
/// (404 <c>resource_missing</c>) returns null instead of throwing.</para>
/// </remarks>
public interface IStripeApi
{
    /// <summary><c>POST /v1/customers</c>: creates a customer.</summary>
    Task<Customer> CreateCustomerAsync(CreateCustomerRequest request, string operationId, CancellationToken cancellationToken = default);

    /// <summary><c>GET /v1/customers/{id}</c>; null when Stripe does not know the id.</summary>
    Task<Customer?> GetCustomerAsync(string customerId, CancellationToken cancellationToken = default);

    /// <summary><c>POST /v1/checkout/sessions</c> in <c>mode=subscription</c> for one price (see <see cref="CreateCheckoutSessionRequest"/>).</summary>
    Task<CheckoutSession> CreateCheckoutSessionAsync(CreateCheckoutSessionRequest request, string operationId, CancellationToken cancellationToken = default);

    /// <summary><c>POST /v1/billing_portal/sessions</c>: a customer portal session (its <c>url</c> is where to send the customer).</summary>
    Task<PortalSession> CreatePortalSessionAsync(CreatePortalSessionRequest request, string operationId, CancellationToken cancellationToken = default);

    /// <summary><c>GET /v1/subscriptions/{id}</c>; null when Stripe does not know the id.</summary>
    Task<Subscription?> GetSubscriptionAsync(string subscriptionId, CancellationToken cancellationToken = default);

    /// <summary><c>GET /v1/subscriptions</c>: one page (newest first), filtered by customer, status and price.</summary>
    Task<StripeList<Subscription>> ListSubscriptionsAsync(ListSubscriptionsOptions options, CancellationToken cancellationToken = default);

    /// <summary><c>POST /v1/subscriptions/{id}</c>: a plan change (item price, proration) and/or cancel at period end.</summary>
    Task<Subscription> UpdateSubscriptionAsync(string subscriptionId, UpdateSubscriptionRequest request, string operationId, CancellationToken cancellationToken = default);

    /// <summary><c>GET /v1/invoices</c>: one page (newest first), filtered by customer, subscription and status.</summary>
    Task<StripeList<Invoice>> ListInvoicesAsync(ListInvoicesOptions options, CancellationToken cancellationToken = default);

    /// <summary><c>GET /v1/events</c>: one page (newest first) of the events of the last 30 days, filtered by type and creation time.</summary>
    Task<StripeList<Event>> ListEventsAsync(ListEventsOptions options, CancellationToken cancellationToken = default);

    /// <summary><c>GET /v1/prices/{id}</c>; null when Stripe does not know the id.</summary>
    Task<Price?> GetPriceAsync(string priceId, CancellationToken cancellationToken = default);

    /// <summary><c>GET /v1/prices</c>: one page, optionally only active prices.</summary>
    Task<StripeList<Price>> ListPricesAsync(ListPricesOptions options, CancellationToken cancellationToken = default);
}

/// <summary>Auto-pagination over any list call of <see cref="IStripeApi"/>, as Stripe's libraries do it (<c>starting_after</c> the last id while <c>has_more</c>).</summary>
public static class StripePaging
{
    /// <summary>
    /// Every item of a list, fetching page after page: <paramref name="page"/> gets the <c>starting_after</c> cursor
    /// (null for the first page) and returns that page, e.g.
    /// <c>StripePaging.AllAsync(after => api.ListSubscriptionsAsync(options with { StartingAfter = after }, ct), x => x.Id, ct)</c>.
    /// </summary>
    public static async IAsyncEnumerable<T> AllAsync<T>(
        Func<string?, Task<StripeList<T>>> page,
        Func<T, string> idOf,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(idOf);
        string? after = null;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var list = await page(after).ConfigureAwait(false);
            foreach (var item in list.Data)
            {
                yield return item;
            }

            if (!list.HasMore || list.Data.Count == 0)
            {
                yield break;
            }

            after = idOf(list.Data[^1]);
        }
    }
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
/// <param name="ItemId">The subscription item to change (<c>si_...</c>, from <see cref="Subscription.Items"/>).</param>
/// <param name="PriceId">Its new price.</param>
/// <param name="ProrationBehavior"><c>create_prorations</c> (Stripe's default), <c>always_invoice</c> or <c>none</c>.</param>
/// <param name="CancelAtPeriodEnd">True to cancel when the current period ends; false to undo that.</param>
/// <param name="Metadata">Metadata keys to set (<c>metadata[key]=value</c>; an empty value removes the key, as in Stripe).</param>
public sealed record UpdateSubscriptionRequest(
    string? ItemId = null,
    string? PriceId = null,
    string? ProrationBehavior = null,
    bool? CancelAtPeriodEnd = null,
    IReadOnlyDictionary<string, string>? Metadata = null);

/// <summary>Paging of Stripe list calls: <c>limit</c> (1..100, Stripe's default 10) and <c>starting_after</c> (the last id of the previous page).</summary>
public abstract record ListOptions
{
    public int? Limit { get; init; }

    public string? StartingAfter { get; init; }
}

/// <summary><c>GET /v1/subscriptions</c> filters. <see cref="Status"/>: a Stripe status, <c>all</c> (includes canceled) or null (Stripe: every status but canceled).</summary>
public sealed record ListSubscriptionsOptions : ListOptions
{
    public string? Customer { get; init; }

    public string? Status { get; init; }

    public string? Price { get; init; }
}

/// <summary><c>GET /v1/invoices</c> filters (<see cref="Status"/>: draft, open, paid, uncollectible, void).</summary>
public sealed record ListInvoicesOptions : ListOptions
{
    public string? Customer { get; init; }

    public string? Subscription { get; init; }

    public string? Status { get; init; }
}

/// <summary><c>GET /v1/events</c> filters: one <see cref="Type"/> (wildcards like <c>customer.subscription.*</c> allowed) and/or <c>created[gte]</c>.</summary>
public sealed record ListEventsOptions : ListOptions
{
    public string? Type { get; init; }

    public DateTimeOffset? CreatedGte { get; init; }
}

/// <summary><c>GET /v1/prices</c> filters.</summary>
public sealed record ListPricesOptions : ListOptions
{
    public bool? Active { get; init; }
}
