using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;

namespace EntitlementDecision.Stripe.Api;

/// <summary>
/// <see cref="IStripeApi"/> on HttpClient: <c>Authorization: Bearer</c> key, pinned <c>Stripe-Version</c>
/// (<see cref="ApiVersion"/>), Stripe's form encoding for POST bodies and GET queries, a deterministic
/// <c>Idempotency-Key</c> on every POST (<see cref="IdempotencyKeyFor"/>, the same on every retry), JSON answers read
/// with <see cref="StripeApiJson.Options"/>.
/// </summary>
/// <remarks>
/// Retries (Polly): exponential backoff with jitter, up to <see cref="StripeApiOptions.MaxAttempts"/> attempts, on
/// network errors, attempt timeouts, 409 (Stripe's <c>lock_timeout</c>, or a concurrent request with the same key),
/// 429 and 5xx. Stripe's <c>Stripe-Should-Retry</c> answer header overrides the status: <c>true</c> forces a retry,
/// <c>false</c> forbids it. Any other 4xx is never retried. Logs name method, path, status and attempt, never the key
/// or bodies.
/// </remarks>
public sealed partial class StripeApiClient : IStripeApi
{
    /// <summary>
    /// The pinned <c>Stripe-Version</c>: the version of Stripe's OpenAPI fixtures the fake Stripe API serves
    /// (testdata/stripe) and of the pinned stripe-node 23.1.0 (tests/stripe-interop). Subscription periods live on the
    /// items in this version; <see cref="Subscription.PeriodEnd"/> also reads the older top-level fields.
    /// Change it only together with the fixtures and the interop tests.
    /// </summary>
    public const string ApiVersion = "2026-10-28.endive";

    private const string FormContentType = "application/x-www-form-urlencoded";

    private readonly HttpClient _http;
    private readonly StripeApiOptions _options;
    private readonly ILogger _logger;
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;

    /// <param name="httpClient">The transport (a typed client from IHttpClientFactory); its BaseAddress is not used.</param>
    /// <param name="options">Key, base address, retry settings.</param>
    /// <param name="logger">Optional; gets retries and failures without secrets.</param>
    /// <exception cref="ArgumentException">No API key, a relative base address, or MaxAttempts &lt; 1.</exception>
    public StripeApiClient(HttpClient httpClient, StripeApiOptions options, ILogger<StripeApiClient>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.ApiKey))
        {
            throw new ArgumentException("The Stripe API key is required.", nameof(options));
        }

        if (!options.BaseAddress.IsAbsoluteUri)
        {
            throw new ArgumentException("The Stripe API base address must be absolute.", nameof(options));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxAttempts, 1, nameof(options));
        _http = httpClient;
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _pipeline = BuildPipeline(options);
    }

    /// <summary>
    /// The <c>Idempotency-Key</c> of a POST: <c>"ed-"</c> + the first 48 hex characters of SHA-256 over
    /// <c>"{path}\n{operationId}"</c> (UTF-8). Deterministic, so a repeated operation (retry, restart, redelivery)
    /// sends the same key and Stripe replays the first answer; different endpoints never share a key.
    /// </summary>
    public static string IdempotencyKeyFor(string path, string operationId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentException.ThrowIfNullOrWhiteSpace(operationId);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{path}\n{operationId}"));
        return "ed-" + Convert.ToHexStringLower(hash)[..48];
    }

    public async Task<Customer> CreateCustomerAsync(CreateCustomerRequest request, string operationId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var form = new StripeFormEncoder().Add("email", request.Email).Add("name", request.Name).AddMap("metadata", request.Metadata);
        return (await SendAsync<Customer>(HttpMethod.Post, "/v1/customers", form, operationId, false, cancellationToken))!;
    }

    public Task<Customer?> GetCustomerAsync(string customerId, CancellationToken cancellationToken = default) =>
        SendAsync<Customer>(HttpMethod.Get, "/v1/customers/" + Segment(customerId, nameof(customerId)), null, null, true, cancellationToken);

    public async Task<CheckoutSession> CreateCheckoutSessionAsync(CreateCheckoutSessionRequest request, string operationId, CancellationToken cancellationToken = default)
        => (await SendAsync<CheckoutSession>(HttpMethod.Post, "/v1/checkout/sessions", CheckoutSessionForm(request), operationId, false, cancellationToken))!;

    public async Task<PortalSession> CreatePortalSessionAsync(CreatePortalSessionRequest request, string operationId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.CustomerId);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.ReturnUrl);
        var form = new StripeFormEncoder().Add("customer", request.CustomerId).Add("return_url", request.ReturnUrl);
        return (await SendAsync<PortalSession>(HttpMethod.Post, "/v1/billing_portal/sessions", form, operationId, false, cancellationToken))!;
    }

    public Task<Subscription?> GetSubscriptionAsync(string subscriptionId, CancellationToken cancellationToken = default) =>
        SendAsync<Subscription>(HttpMethod.Get, "/v1/subscriptions/" + Segment(subscriptionId, nameof(subscriptionId)), null, null, true, cancellationToken);

    public async Task<StripeList<Subscription>> ListSubscriptionsAsync(ListSubscriptionsOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var query = new StripeFormEncoder().Add("customer", options.Customer).Add("status", options.Status).Add("price", options.Price);
        return (await SendAsync<StripeList<Subscription>>(HttpMethod.Get, "/v1/subscriptions", Paging(query, options), null, false, cancellationToken))!;
    }

    public async Task<Subscription> UpdateSubscriptionAsync(string subscriptionId, UpdateSubscriptionRequest request, string operationId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var path = "/v1/subscriptions/" + Segment(subscriptionId, nameof(subscriptionId));
        return (await SendAsync<Subscription>(HttpMethod.Post, path, SubscriptionUpdateForm(request), operationId, false, cancellationToken))!;
    }

    public async Task<StripeList<Invoice>> ListInvoicesAsync(ListInvoicesOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var query = new StripeFormEncoder().Add("customer", options.Customer).Add("subscription", options.Subscription).Add("status", options.Status);
        return (await SendAsync<StripeList<Invoice>>(HttpMethod.Get, "/v1/invoices", Paging(query, options), null, false, cancellationToken))!;
    }

    public async Task<StripeList<Event>> ListEventsAsync(ListEventsOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var query = new StripeFormEncoder().Add("type", options.Type).Add("created[gte]", options.CreatedGte?.ToUnixTimeSeconds());
        return (await SendAsync<StripeList<Event>>(HttpMethod.Get, "/v1/events", Paging(query, options), null, false, cancellationToken))!;
    }

    public Task<Price?> GetPriceAsync(string priceId, CancellationToken cancellationToken = default) =>
        SendAsync<Price>(HttpMethod.Get, "/v1/prices/" + Segment(priceId, nameof(priceId)), null, null, true, cancellationToken);

    public async Task<StripeList<Price>> ListPricesAsync(ListPricesOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var query = new StripeFormEncoder().Add("active", options.Active);
        return (await SendAsync<StripeList<Price>>(HttpMethod.Get, "/v1/prices", Paging(query, options), null, false, cancellationToken))!;
    }

    /// <summary>The form fields of a checkout session create, in the order they are sent.</summary>
    internal static StripeFormEncoder CheckoutSessionForm(CreateCheckoutSessionRequest request)
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
        var form = new StripeFormEncoder()
            .Add("mode", "subscription")
            .Add("line_items[0][price]", request.PriceId)
            .Add("line_items[0][quantity]", request.Quantity)
            .Add("customer", request.CustomerId)
            .Add("customer_email", request.CustomerId is null ? request.CustomerEmail : null)
            .Add("client_reference_id", request.TenantId)
            .AddMap("metadata", metadata)
            .AddMap("subscription_data[metadata]", metadata);
        if (request.TrialPeriodDays is > 0)
        {
            form.Add("subscription_data[trial_period_days]", request.TrialPeriodDays.Value);
        }

        return form.Add("success_url", request.SuccessUrl).Add("cancel_url", request.CancelUrl);
    }

    /// <summary>The form fields of a subscription update; null fields are left out.</summary>
    internal static StripeFormEncoder SubscriptionUpdateForm(UpdateSubscriptionRequest request)
    {
        if (request.PriceId is not null && string.IsNullOrWhiteSpace(request.ItemId))
        {
            throw new ArgumentException("A price change needs the subscription item id (items[0][id]).", nameof(request));
        }

        return new StripeFormEncoder()
            .Add("items[0][id]", request.ItemId)
            .Add("items[0][price]", request.PriceId)
            .Add("proration_behavior", request.ProrationBehavior)
            .Add("cancel_at_period_end", request.CancelAtPeriodEnd)
            .AddMap("metadata", request.Metadata);
    }

    private static StripeFormEncoder Paging(StripeFormEncoder query, ListOptions options)
    {
        if (options.Limit is { } limit)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1, nameof(options));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, 100, nameof(options));
        }

        return query.Add("limit", options.Limit).Add("starting_after", options.StartingAfter);
    }

    private static string Segment(string id, string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id, name);
        return Uri.EscapeDataString(id);
    }

    private async Task<T?> SendAsync<T>(HttpMethod method, string path, StripeFormEncoder? form, string? operationId, bool nullWhenMissing, CancellationToken cancellationToken)
        where T : class
    {
        var isPost = method == HttpMethod.Post;
        var idempotencyKey = isPost ? IdempotencyKeyFor(path, operationId!) : null;
        var encoded = form?.Encode() ?? "";
        var uri = new Uri(_options.BaseAddress, !isPost && encoded.Length > 0 ? $"{path}?{encoded}" : path);
        var attempts = 0;
        HttpResponseMessage response;
        try
        {
            response = await _pipeline.ExecuteAsync(
                async token =>
                {
                    attempts++;
                    using var request = new HttpRequestMessage(method, uri);
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.ApiKey);
                    request.Headers.Add("Stripe-Version", ApiVersion);
                    request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
                    request.Headers.UserAgent.Add(new ProductInfoHeaderValue("EntitlementDecision", "1.0"));
                    if (idempotencyKey is not null)
                    {
                        request.Headers.Add("Idempotency-Key", idempotencyKey);
                    }

                    if (isPost)
                    {
                        request.Content = new StringContent(encoded, Encoding.UTF8, FormContentType);
                    }

                    using var attemptTimeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                    attemptTimeout.CancelAfter(_options.AttemptTimeout);
                    try
                    {
                        return await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, attemptTimeout.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException ex) when (!token.IsCancellationRequested)
                    {
                        throw new TimeoutException($"No answer from Stripe within {_options.AttemptTimeout.TotalSeconds:0.#} s.", ex);
                    }
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or TimeoutException)
        {
            LogGaveUp(_logger, method.Method, path, attempts, ex.GetType().Name);
            throw new StripeApiException(null, StripeApiException.NetworkErrorType, null, null,
                $"Stripe could not be reached ({ex.GetType().Name}) after {attempts} attempt(s).", null, attempts, innerException: ex);
        }

        using (response)
        {
            var requestId = response.Headers.TryGetValues("Request-Id", out var ids) ? ids.FirstOrDefault() : null;
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                try
                {
                    return JsonSerializer.Deserialize<T>(body, StripeApiJson.Options)
                        ?? throw new JsonException("null body");
                }
                catch (JsonException ex)
                {
                    throw new StripeApiException(status, StripeApiException.InvalidResponseType, null, null,
                        $"Stripe's answer to {method.Method} {path} is not the expected object: {ex.Message}", requestId, attempts, innerException: ex);
                }
            }

            var error = ReadError(body);
            if (nullWhenMissing && status == 404 && error.Code == "resource_missing")
            {
                return null;
            }

            LogFailed(_logger, method.Method, path, status, error.Type, error.Code, requestId, attempts);
            throw new StripeApiException(status, error.Type, error.Code, error.Param,
                StripeProblemDetails.Redact(error.Message ?? $"Stripe answered {status} to {method.Method} {path}."),
                requestId, attempts, error.DeclineCode);
        }
    }

    private sealed record ErrorBody(string? Type, string? Code, string? Param, string? Message, string? DeclineCode);

    private static ErrorBody ReadError(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.Object)
            {
                return new ErrorBody(StripeJson.GetStringOrNull(e, "type"), StripeJson.GetStringOrNull(e, "code"),
                    StripeJson.GetStringOrNull(e, "param"), StripeJson.GetStringOrNull(e, "message"), StripeJson.GetStringOrNull(e, "decline_code"));
            }
        }
        catch (JsonException)
        {
        }

        return new ErrorBody(null, null, null, null, null);
    }

    /// <summary>Whether an attempt's outcome is worth another attempt (see the class remarks).</summary>
    internal static bool ShouldRetry(Outcome<HttpResponseMessage> outcome)
    {
        if (outcome.Exception is not null)
        {
            return outcome.Exception is HttpRequestException or TimeoutException;
        }

        if (outcome.Result is not { } response)
        {
            return false;
        }

        if (response.Headers.TryGetValues("Stripe-Should-Retry", out var values))
        {
            switch (values.FirstOrDefault()?.Trim().ToLowerInvariant())
            {
                case "true": return true;
                case "false": return false;
            }
        }

        var status = (int)response.StatusCode;
        return status is 409 or 429 or >= 500;
    }

    private ResiliencePipeline<HttpResponseMessage> BuildPipeline(StripeApiOptions options)
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>();
        if (options.MaxAttempts > 1)
        {
            builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = options.MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryBaseDelay,
                MaxDelay = options.MaxRetryDelay,
                ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Outcome)),
                OnRetry = args =>
                {
                    var outcome = args.Outcome.Result is { } r ? ((int)r.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture) : args.Outcome.Exception?.GetType().Name ?? "?";
                    LogRetry(_logger, args.AttemptNumber + 1, outcome, args.RetryDelay.TotalMilliseconds);
                    args.Outcome.Result?.Dispose();
                    return ValueTask.CompletedTask;
                },
            });
        }

        return builder.Build();
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "Stripe API attempt {Attempt} failed ({Outcome}); retrying in {DelayMs:0} ms")]
    private static partial void LogRetry(ILogger logger, int attempt, string outcome, double delayMs);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Stripe API {Method} {Path} answered {Status} ({ErrorType}/{ErrorCode}), request {RequestId}, after {Attempts} attempt(s)")]
    private static partial void LogFailed(ILogger logger, string method, string path, int status, string? errorType, string? errorCode, string? requestId, int attempts);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Stripe API {Method} {Path} unreachable after {Attempts} attempt(s): {Error}")]
    private static partial void LogGaveUp(ILogger logger, string method, string path, int attempts, string error);
}
