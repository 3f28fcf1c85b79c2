using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Stripe;
using Stripe.Checkout;

namespace EntitlementDecision.Stripe.Api;

/// <summary>
/// <see cref="IStripeBilling"/> on Stripe.net's <see cref="StripeClient"/>: API version pinned by the library
/// (<see cref="ApiVersion"/>), the base URL from <see cref="StripeApiOptions.BaseAddress"/>, Stripe.net's own retries,
/// an idempotency key per operation. Transport failures become <see cref="StripeException"/> (<see cref="StripeErrors.ConnectionError"/>).
/// </summary>
public sealed class StripeNetBilling : IStripeBilling
{
    /// <summary>The Stripe API version every request and every webhook endpoint of ours uses (Stripe.net's own).</summary>
    public static readonly string ApiVersion = StripeConfiguration.ApiVersion;

    private readonly StripeClient _client;

    /// <param name="http">An HttpClient (from IHttpClientFactory), its timeout <see cref="StripeApiOptions.AttemptTimeout"/>; not changed here, so one client can serve several instances.</param>
    /// <param name="options">Key, base address, retries.</param>
    public StripeNetBilling(HttpClient http, StripeApiOptions options)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.ApiKey);
        var apiBase = options.BaseAddress.GetLeftPart(UriPartial.Authority);
        var transport = new SystemNetHttpClient(http, options.MaxNetworkRetries, enableTelemetry: false);
        _client = new StripeClient(options.ApiKey, httpClient: transport, apiBase: apiBase);
    }

    /// <summary>
    /// The idempotency key of <paramref name="operationId"/> at <paramref name="path"/>: <c>"ed-"</c> + 48 hex chars of
    /// SHA-256(<c>path \n operationId</c>), the same on every retry and every process.
    /// </summary>
    public static string IdempotencyKeyFor(string path, string operationId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentException.ThrowIfNullOrWhiteSpace(operationId);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{path}\n{operationId}"));
        return "ed-" + Convert.ToHexStringLower(hash)[..48];
    }

    public Task<Customer> CreateCustomerAsync(CreateCustomerRequest request, string operationId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var options = new CustomerCreateOptions { Email = request.Email, Name = request.Name };
        if (request.Metadata is not null)
        {
            options.Metadata = Copy(request.Metadata);
        }

        return CallAsync(() => _client.V1.Customers.CreateAsync(options, Idempotent("/v1/customers", operationId), cancellationToken), cancellationToken);
    }

    public Task<Session> CreateCheckoutSessionAsync(CreateCheckoutSessionRequest request, string operationId, CancellationToken cancellationToken = default)
    {
        var options = CheckoutSessionOptions(request);
        return CallAsync(() => _client.V1.Checkout.Sessions.CreateAsync(options, Idempotent("/v1/checkout/sessions", operationId), cancellationToken), cancellationToken);
    }

    public Task<Session?> GetCheckoutSessionAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sessionId);
        return OrNullWhenMissingAsync(() => _client.V1.Checkout.Sessions.GetAsync(sessionId, cancellationToken: cancellationToken), cancellationToken);
    }

    public Task<global::Stripe.BillingPortal.Session> CreatePortalSessionAsync(CreatePortalSessionRequest request, string operationId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.CustomerId);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.ReturnUrl);
        var options = new global::Stripe.BillingPortal.SessionCreateOptions { Customer = request.CustomerId, ReturnUrl = request.ReturnUrl };
        return CallAsync(() => _client.V1.BillingPortal.Sessions.CreateAsync(options, Idempotent("/v1/billing_portal/sessions", operationId), cancellationToken), cancellationToken);
    }

    public Task<Subscription?> GetSubscriptionAsync(string subscriptionId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(subscriptionId);
        return OrNullWhenMissingAsync(() => _client.V1.Subscriptions.GetAsync(subscriptionId, cancellationToken: cancellationToken), cancellationToken);
    }

    public async IAsyncEnumerable<Subscription> ListSubscriptionsAsync(
        string? customerId, string? status, string? priceId, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var options = new SubscriptionListOptions { Customer = customerId, Status = status, Price = priceId, Limit = 100 };
        await using var pages = _client.V1.Subscriptions.ListAutoPagingAsync(options, cancellationToken: cancellationToken).GetAsyncEnumerator(cancellationToken);
        while (await CallAsync(async () => await pages.MoveNextAsync(), cancellationToken))
        {
            yield return pages.Current;
        }
    }

    public async Task<IReadOnlyList<Invoice>> ListInvoicesAsync(string customerId, int limit, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(customerId);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, 100);
        var page = await CallAsync(() => _client.V1.Invoices.ListAsync(new InvoiceListOptions { Customer = customerId, Limit = limit }, cancellationToken: cancellationToken), cancellationToken);
        return page.Data;
    }

    public Task<Subscription> UpdateSubscriptionAsync(string subscriptionId, UpdateSubscriptionRequest request, string operationId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(subscriptionId);
        var options = SubscriptionUpdateOptions(request);
        return CallAsync(() => _client.V1.Subscriptions.UpdateAsync(subscriptionId, options, Idempotent("/v1/subscriptions/" + subscriptionId, operationId), cancellationToken), cancellationToken);
    }

    public Task<Price?> GetPriceAsync(string priceId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(priceId);
        return OrNullWhenMissingAsync(() => _client.V1.Prices.GetAsync(priceId, cancellationToken: cancellationToken), cancellationToken);
    }

    /// <summary>The checkout session of a subscription to one price: the tenant in <c>client_reference_id</c> and in the metadata of the session and of the subscription it creates.</summary>
    internal static SessionCreateOptions CheckoutSessionOptions(CreateCheckoutSessionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.TenantId);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.Environment);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.PriceId);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.SuccessUrl);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.CancelUrl);
        ArgumentOutOfRangeException.ThrowIfLessThan(request.Quantity, 1);
        var metadata = new Dictionary<string, string>(request.Metadata ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            ["tenant_id"] = request.TenantId,
            ["environment"] = request.Environment,
        };
        return new SessionCreateOptions
        {
            Mode = "subscription",
            LineItems = [new SessionLineItemOptions { Price = request.PriceId, Quantity = request.Quantity }],
            Customer = request.CustomerId,
            CustomerEmail = request.CustomerId is null ? request.CustomerEmail : null,
            ClientReferenceId = request.TenantId,
            Metadata = metadata,
            SubscriptionData = new SessionSubscriptionDataOptions
            {
                Metadata = new Dictionary<string, string>(metadata, StringComparer.Ordinal),
                TrialPeriodDays = request.TrialPeriodDays is > 0 ? request.TrialPeriodDays : null,
            },
            SuccessUrl = request.SuccessUrl,
            CancelUrl = request.CancelUrl,
        };
    }

    /// <summary>A subscription update; a price change needs the item id (<c>items[0][id]</c>); null fields are not sent (an empty
    /// <see cref="UpdateSubscriptionRequest.PauseCollection"/> is: it unsets the pause).</summary>
    internal static SubscriptionUpdateOptions SubscriptionUpdateOptions(UpdateSubscriptionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.PriceId is not null && string.IsNullOrWhiteSpace(request.ItemId))
        {
            throw new ArgumentException("A price change needs the subscription item id (items[0][id]).", nameof(request));
        }

        // Only what the request sets: assigned null, Metadata went out as "metadata=" (seen against the fake), which in
        // Stripe erases every key, tenant_id included.
        var options = new SubscriptionUpdateOptions();
        if (request.ItemId is not null || request.PriceId is not null)
        {
            options.Items = [new SubscriptionItemOptions { Id = request.ItemId, Price = request.PriceId }];
        }

        if (request.ProrationBehavior is not null)
        {
            options.ProrationBehavior = request.ProrationBehavior;
        }

        if (request.CancelAtPeriodEnd is not null)
        {
            options.CancelAtPeriodEnd = request.CancelAtPeriodEnd;
        }

        if (request.Metadata is not null)
        {
            options.Metadata = Copy(request.Metadata);
        }

        if (request.PauseCollection is { Length: 0 })
        {
            // Stripe.net tracks an explicit null on an emptyable field and sends "pause_collection=", which unsets the pause.
            options.PauseCollection = null;
        }
        else if (request.PauseCollection is not null)
        {
            if (request.PauseCollection is not ("keep_as_draft" or "mark_uncollectible" or "void"))
            {
                throw new ArgumentException($"pause_collection behavior must be keep_as_draft, mark_uncollectible or void, not '{request.PauseCollection}'.", nameof(request));
            }

            options.PauseCollection = new SubscriptionPauseCollectionOptions { Behavior = request.PauseCollection };
        }

        return options;
    }

    private static RequestOptions Idempotent(string path, string operationId) => new() { IdempotencyKey = IdempotencyKeyFor(path, operationId) };

    private static Dictionary<string, string>? Copy(IReadOnlyDictionary<string, string>? metadata) =>
        metadata is null ? null : new Dictionary<string, string>(metadata, StringComparer.Ordinal);

    private static async Task<T?> OrNullWhenMissingAsync<T>(Func<Task<T>> call, CancellationToken ct)
        where T : class
    {
        try
        {
            return await CallAsync(call, ct);
        }
        catch (StripeException e) when (e.HttpStatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    // Stripe.net lets transport failures escape as HttpRequestException or a timeout; the port promises StripeException.
    private static async Task<T> CallAsync<T>(Func<Task<T>> call, CancellationToken ct)
    {
        try
        {
            return await call();
        }
        catch (HttpRequestException e)
        {
            throw StripeErrors.ConnectionError(e.Message, e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw StripeErrors.ConnectionError("no answer in time", e);
        }
    }
}

/// <summary>How the control plane reads a <see cref="StripeException"/>.</summary>
public static class StripeErrors
{
    /// <summary>Stripe's error type for a request that got no answer (Stripe's libraries use the same name).</summary>
    public const string ConnectionErrorType = "api_connection_error";

    /// <summary>A <see cref="StripeException"/> for a transport failure: no HTTP status, type <see cref="ConnectionErrorType"/>.</summary>
    public static StripeException ConnectionError(string message, Exception? inner = null) =>
        new($"Stripe could not be reached: {message}", inner) { StripeError = new StripeError { Type = ConnectionErrorType, Message = message } };

    /// <summary>The HTTP status of Stripe's answer, or null when there was none.</summary>
    public static int? Status(this StripeException e) => e.HttpStatusCode == default ? null : (int)e.HttpStatusCode;

    /// <summary>True when trying again later may succeed: no answer, 429, or a 5xx.</summary>
    public static bool IsTransient(this StripeException e) => e.Status() is null or 429 or >= 500;

    /// <summary>Stripe's request id (<c>Request-Id</c> header), when there was an answer.</summary>
    public static string? RequestId(this StripeException e) => e.StripeResponse?.RequestId;
}
