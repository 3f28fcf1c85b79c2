using System.Net;
using System.Text.Json;
using EntitlementDecision.FakeStripe;
using EntitlementDecision.Stripe.Api;
using Stripe;
using Subscription = Stripe.Subscription;

namespace EntitlementDecision.Stripe.Tests.Api;

/// <summary>Stripe.net (through <see cref="StripeNetBilling"/>) against the fake Stripe API over real HTTP (Kestrel on loopback).</summary>
public sealed class StripeNetBillingTests : IAsyncLifetime
{
    internal const string ApiKey = "sk_test_client_tests_51Hx9";
    internal const string FixturePrice = "price_1PgafmB7WZ01zgkW6dKueIc5";
    internal const string BusinessPrice = "price_1PgbusinessMonthlyDev01";

    private FakeStripeServer _stripe = null!;
    private HttpClient _http = null!;

    public async ValueTask InitializeAsync()
    {
        _stripe = await FakeStripeServer.StartAsync(new FakeStripeOptions { ApiKey = ApiKey }, cancellationToken: TestContext.Current.CancellationToken);
        _http = new HttpClient();
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _stripe.DisposeAsync();
    }

    private StripeNetBilling Client(int maxAttempts = 4, string apiKey = ApiKey) => new(_http, new StripeApiOptions
    {
        ApiKey = apiKey,
        BaseAddress = _stripe.BaseUrl,
        MaxNetworkRetries = maxAttempts - 1,
    });

    // Stripe's own event objects as the fake serves them on GET /v1/events, newest first.
    private async Task<List<Event>> EventsAsync(string type) =>
        (await new StripeClient(ApiKey, apiBase: _stripe.BaseUrl.GetLeftPart(UriPartial.Authority)).V1.Events
            .ListAsync(new EventListOptions { Type = type, Limit = 100 }, cancellationToken: Ct)).Data;

    [Fact]
    public async Task RateLimited_WithoutShouldRetry_IsNotRetriedByStripeNet_AndMapsTo503()
    {
        _stripe.State.AddFault(new FakeFault("/v1/customers", 429, Count: 1));

        var error = await Assert.ThrowsAsync<StripeException>(() => Client().CreateCustomerAsync(new CreateCustomerRequest(), "customer:limited", Ct));

        Assert.Equal(429, error.Status());
        Assert.Single(_stripe.State.Requests);
        Assert.Equal(503, StripeProblemDetails.From(error).Status);
    }

    internal static CreateCheckoutSessionRequest CheckoutRequest(string tenant, string? customerId = null, int? trialDays = 14) => new(
        TenantId: tenant,
        Environment: "staging",
        PriceId: FixturePrice,
        SuccessUrl: "https://app.example.com/billing/success?session={CHECKOUT_SESSION_ID}",
        CancelUrl: "https://app.example.com/billing/cancel",
        CustomerId: customerId,
        TrialPeriodDays: trialDays,
        Metadata: new Dictionary<string, string> { ["plan_id"] = "pro" });

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<Subscription> SubscribeAsync(StripeNetBilling client, string tenant, int? trialDays = null)
    {
        var session = await client.CreateCheckoutSessionAsync(CheckoutRequest(tenant, trialDays: trialDays), $"checkout:{tenant}", Ct);
        var done = await _stripe.State.CompleteCheckoutSessionAsync(session.Id, Ct);
        return (await client.GetSubscriptionAsync((string)done.Object["id"]!, Ct))!;
    }

    [Fact]
    public async Task CreateCheckoutSession_SendsStripeFormAndHeaders()
    {
        var client = Client();
        var customer = await client.CreateCustomerAsync(new CreateCustomerRequest("owner@acme.test", "Acme", new Dictionary<string, string> { ["tenant_id"] = "acme" }), "customer:acme", Ct);

        var session = await client.CreateCheckoutSessionAsync(CheckoutRequest("acme", customer.Id), "checkout:acme:1", Ct);

        Assert.StartsWith("cs_test_", session.Id, StringComparison.Ordinal);
        Assert.Equal($"https://checkout.stripe.com/c/pay/{session.Id}", session.Url);
        Assert.Equal(("subscription", "open", customer.Id, "acme"), (session.Mode, session.Status, session.CustomerId, session.ClientReferenceId));
        Assert.Equal("staging", session.Metadata!["environment"]);
        var recorded = _stripe.State.Requests.Single(r => r.Path == "/v1/checkout/sessions");
        Assert.Equal(new Dictionary<string, string>
        {
            ["mode"] = "subscription",
            ["line_items[0][price]"] = FixturePrice,
            ["line_items[0][quantity]"] = "1",
            ["customer"] = customer.Id,
            ["client_reference_id"] = "acme",
            ["metadata[environment]"] = "staging",
            ["metadata[plan_id]"] = "pro",
            ["metadata[tenant_id]"] = "acme",
            ["subscription_data[metadata][environment]"] = "staging",
            ["subscription_data[metadata][plan_id]"] = "pro",
            ["subscription_data[metadata][tenant_id]"] = "acme",
            ["subscription_data[trial_period_days]"] = "14",
            ["success_url"] = "https://app.example.com/billing/success?session={CHECKOUT_SESSION_ID}",
            ["cancel_url"] = "https://app.example.com/billing/cancel",
        }, recorded.Form);
        Assert.Equal(StripeNetBilling.ApiVersion, recorded.StripeVersion);
        Assert.Equal(StripeNetBilling.IdempotencyKeyFor("/v1/checkout/sessions", "checkout:acme:1"), recorded.IdempotencyKey);
        Assert.StartsWith("application/x-www-form-urlencoded", recorded.Headers["content-type"], StringComparison.Ordinal);
        Assert.Equal("Bearer sk_test_****1Hx9", recorded.Headers["authorization"]); // the fake masks the key it records
        Assert.Equal(200, recorded.Status);
    }

    [Fact]
    public async Task PortalSession_RoundTrip_AndAnUnknownIdIsNull()
    {
        var client = Client();
        var customer = await client.CreateCustomerAsync(new CreateCustomerRequest(Email: "a@b.test"), "customer:portal", Ct);

        var portal = await client.CreatePortalSessionAsync(new CreatePortalSessionRequest(customer.Id, "https://app.example.com/account"), "portal:1", Ct);

        Assert.StartsWith("bps_", portal.Id, StringComparison.Ordinal);
        Assert.StartsWith("https://billing.stripe.com/", portal.Url, StringComparison.Ordinal);
        Assert.Equal(customer.Id, portal.Customer);
        Assert.Equal("a@b.test", customer.Email);
        Assert.Null(await client.GetSubscriptionAsync("sub_nobody", Ct));
    }

    [Fact]
    public void IdempotencyKey_IsDeterministicPerOperationAndPath()
    {
        var key = StripeNetBilling.IdempotencyKeyFor("/v1/checkout/sessions", "op-1");
        Assert.Equal(key, StripeNetBilling.IdempotencyKeyFor("/v1/checkout/sessions", "op-1"));
        Assert.NotEqual(key, StripeNetBilling.IdempotencyKeyFor("/v1/checkout/sessions", "op-2"));
        Assert.NotEqual(key, StripeNetBilling.IdempotencyKeyFor("/v1/customers", "op-1"));
        Assert.Matches("^ed-[0-9a-f]{48}$", key);
    }

    [Fact]
    public async Task SameOperationId_ReplaysTheFirstSession_DifferentParamsIsIdempotencyError()
    {
        var client = Client();
        var first = await client.CreateCheckoutSessionAsync(CheckoutRequest("t-idem"), "checkout:t-idem", Ct);
        var again = await client.CreateCheckoutSessionAsync(CheckoutRequest("t-idem"), "checkout:t-idem", Ct);
        var other = await client.CreateCheckoutSessionAsync(CheckoutRequest("t-idem"), "checkout:t-idem:2", Ct);

        Assert.Equal(first.Id, again.Id);
        Assert.NotEqual(first.Id, other.Id);
        var conflict = await Assert.ThrowsAsync<StripeException>(() =>
            client.CreateCheckoutSessionAsync(CheckoutRequest("t-idem", trialDays: 30), "checkout:t-idem", Ct));
        Assert.Equal((400, "idempotency_error"), (conflict.Status(), conflict.StripeError.Type));
        Assert.Equal(409, StripeProblemDetails.From(conflict).Status);
    }

    [Theory]
    [InlineData(409)]
    [InlineData(500)]
    [InlineData(503)]
    public async Task RetryableStatus_IsRetriedWithTheSameIdempotencyKey(int status)
    {
        _stripe.State.AddFault(new FakeFault("/v1/checkout/sessions", status, Count: 2));

        var session = await Client().CreateCheckoutSessionAsync(CheckoutRequest("t-retry"), "checkout:t-retry", Ct);

        var attempts = _stripe.State.Requests.Where(r => r.Path == "/v1/checkout/sessions").ToList();
        Assert.Equal([status, status, 200], attempts.Select(r => r.Status));
        Assert.Single(attempts.Select(r => r.IdempotencyKey).Distinct());
        Assert.Equal(session.Id, (string?)_stripe.State.Find(session.Id)?["id"]);
    }

    [Fact]
    public async Task ServerErrors_AfterMaxAttempts_ThrowMappedTo502()
    {
        _stripe.State.AddFault(new FakeFault("/v1/subscriptions*", 500, Count: 10, Method: "GET"));

        var error = await Assert.ThrowsAsync<StripeException>(() => Client(maxAttempts: 3).GetSubscriptionAsync("sub_x", Ct));

        Assert.Equal((500, "api_error"), (error.Status(), error.StripeError.Type));
        Assert.NotNull(error.RequestId());
        var problem = StripeProblemDetails.From(error);
        Assert.Equal((502, "Stripe unavailable"), (problem.Status, problem.Title));
        Assert.Equal(error.RequestId(), problem.Extensions["stripe_request_id"]);
        Assert.Equal(3, _stripe.State.Requests.Count);
    }

    [Fact]
    public async Task ShouldRetryFalse_On503_IsNotRetried()
    {
        _stripe.State.AddFault(new FakeFault("/v1/customers", 503, Count: 1, ShouldRetry: false));

        var error = await Assert.ThrowsAsync<StripeException>(() => Client().CreateCustomerAsync(new CreateCustomerRequest(), "customer:no-retry", Ct));

        Assert.Equal(503, error.Status());
        Assert.Single(_stripe.State.Requests);
    }

    [Fact]
    public async Task ShouldRetryTrue_On400_IsRetried()
    {
        _stripe.State.AddFault(new FakeFault("/v1/customers", 400, Count: 1, ShouldRetry: true));

        var customer = await Client().CreateCustomerAsync(new CreateCustomerRequest(Name: "x"), "customer:forced-retry", Ct);

        Assert.Equal([400, 200], _stripe.State.Requests.Select(r => r.Status));
        Assert.Equal("x", customer.Name);
    }

    [Fact]
    public async Task NetworkError_IsRetried_AndAfterMaxAttemptsMapsTo502()
    {
        _stripe.State.AddFault(new FakeFault("/v1/prices/" + FixturePrice, Abort: true, Count: 1));
        var price = await Client().GetPriceAsync(FixturePrice, Ct);
        Assert.Equal((2000L, "usd", "month"), (price!.UnitAmount!.Value, price.Currency, price.Recurring!.Interval));
        Assert.Equal([0, 200], _stripe.State.Requests.Select(r => r.Status));

        _stripe.State.AddFault(new FakeFault("/v1/prices/" + FixturePrice, Abort: true, Count: 5));
        var error = await Assert.ThrowsAsync<StripeException>(() => Client(maxAttempts: 2).GetPriceAsync(FixturePrice, Ct));
        Assert.Equal((null, StripeErrors.ConnectionErrorType), (error.Status(), error.StripeError.Type));
        Assert.Equal(502, StripeProblemDetails.From(error).Status);
    }

    [Fact]
    public async Task InvalidRequest_IsNotRetried_AndMapsTo400WithStripesMessage()
    {
        var request = CheckoutRequest("t-bad") with { PriceId = "price_does_not_exist" };

        var error = await Assert.ThrowsAsync<StripeException>(() => Client().CreateCheckoutSessionAsync(request, "checkout:t-bad", Ct));

        Assert.Equal((400, "invalid_request_error", "resource_missing", "line_items[0][price]"), (error.Status(), error.StripeError.Type, error.StripeError.Code, error.StripeError.Param));
        var problem = StripeProblemDetails.From(error);
        Assert.Equal(400, problem.Status);
        Assert.Equal("No such price: 'price_does_not_exist'", problem.Detail);
        Assert.Equal("line_items[0][price]", problem.Extensions["stripe_param"]);
        Assert.Single(_stripe.State.Requests);
    }

    [Fact]
    public async Task WrongApiKey_MapsTo502_WithoutTheKey()
    {
        const string wrongKey = "sk_test_wrong_key_9f8e7d6c5b4a";
        var error = await Assert.ThrowsAsync<StripeException>(() => Client(apiKey: wrongKey).GetPriceAsync(FixturePrice, Ct));

        Assert.Equal(401, error.Status());
        Assert.DoesNotContain(wrongKey, error.Message, StringComparison.Ordinal);
        var problem = StripeProblemDetails.From(error);
        Assert.Equal(502, problem.Status);
        Assert.DoesNotContain("sk_", JsonSerializer.Serialize(problem), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListSubscriptions_AutoPagesWithStartingAfter_AndFilters()
    {
        var client = Client();
        var created = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            created.Add((await SubscribeAsync(client, $"t-page-{i}")).Id);
        }

        var all = new List<string>();
        await foreach (var sub in client.ListSubscriptionsAsync(null, null, FixturePrice, Ct))
        {
            all.Add(sub.Id);
        }

        Assert.Equal(Enumerable.Reverse(created), all);
        Assert.Empty(await client.ListSubscriptionsAsync(null, null, BusinessPrice, Ct).ToListAsync(Ct));
        var customer = (await client.GetSubscriptionAsync(created[0], Ct))!.CustomerId;
        Assert.Single(await client.ListSubscriptionsAsync(customer, "all", null, Ct).ToListAsync(Ct));
    }

    [Fact]
    public async Task UpdateSubscription_ChangesPrice_SendsItemsAndProration_EmitsEvent()
    {
        var client = Client();
        var sub = await SubscribeAsync(client, "t-upgrade");

        var updated = await client.UpdateSubscriptionAsync(sub.Id,
            new UpdateSubscriptionRequest(ItemId: sub.Items.Data[0].Id, PriceId: BusinessPrice, ProrationBehavior: "create_prorations"), "upgrade:t-upgrade:business", Ct);

        Assert.Equal([BusinessPrice], updated.Items.Data.Select(i => i.Price.Id));
        Assert.Equal(new Dictionary<string, string>
        {
            ["items[0][id]"] = sub.Items.Data[0].Id,
            ["items[0][price]"] = BusinessPrice,
            ["proration_behavior"] = "create_prorations",
        }, _stripe.State.Requests.Single(r => r.Method == "POST" && r.Path == "/v1/subscriptions/" + sub.Id).Form);
        var events = await EventsAsync("customer.subscription.*");
        Assert.Equal("customer.subscription.updated", events[0].Type);
        Assert.True(events.Zip(events.Skip(1)).All(p => p.First.Created >= p.Second.Created), "events are newest first");
        var update = StripeSubscriptionEvents.Read(events[0]);
        Assert.True(update.Succeeded, update.Error);
        Assert.Equal(("t-upgrade", "staging"), (update.Update.TenantId, update.Update.Environment));
        Assert.Equal([BusinessPrice], update.Update.PriceIds);

        var cancel = await client.UpdateSubscriptionAsync(sub.Id, new UpdateSubscriptionRequest(CancelAtPeriodEnd: true), "cancel:t-upgrade", Ct);
        Assert.True(cancel.CancelAtPeriodEnd);
        Assert.Equal(cancel.Items.Data[0].CurrentPeriodEnd, cancel.CancelAt);
    }

    [Fact]
    public async Task PauseCollection_SendsBehavior_ThenEmptyUnsets_AndAPausedRenewalIsVoided()
    {
        var client = Client();
        var sub = await SubscribeAsync(client, "t-pause");
        var path = "/v1/subscriptions/" + sub.Id;

        var paused = await client.UpdateSubscriptionAsync(sub.Id, new UpdateSubscriptionRequest(PauseCollection: "void"), "pause:t-pause", Ct);

        Assert.Equal(("void", (DateTime?)null), (paused.PauseCollection?.Behavior, paused.PauseCollection?.ResumesAt));
        Assert.Equal("active", paused.Status); // pausing collection leaves the status as it is
        Assert.Equal(new Dictionary<string, string> { ["pause_collection[behavior]"] = "void" },
            _stripe.State.Requests.Last(r => r.Method == "POST" && r.Path == path).Form);
        var pausedEvent = (await EventsAsync("customer.subscription.updated"))[0];
        Assert.Equal("void", ((Subscription)pausedEvent.Data.Object).PauseCollection?.Behavior);

        // A renewal while paused: the new invoice is voided, nothing is charged, no event.
        var eventsBefore = (await EventsAsync("invoice.*")).Count + (await EventsAsync("customer.subscription.*")).Count;
        await _stripe.State.PayAsync(sub.Id, Ct);
        var renewal = (await client.ListInvoicesAsync(sub.CustomerId, 1, Ct)).Single();
        Assert.Equal(("void", 0L, "subscription_cycle"), (renewal.Status, renewal.AmountPaid, renewal.BillingReason));
        Assert.Equal(eventsBefore, (await EventsAsync("invoice.*")).Count + (await EventsAsync("customer.subscription.*")).Count);
        Assert.Equal("active", (await client.GetSubscriptionAsync(sub.Id, Ct))!.Status);

        var resumed = await client.UpdateSubscriptionAsync(sub.Id, new UpdateSubscriptionRequest(PauseCollection: ""), "resume:t-pause", Ct);

        Assert.Null(resumed.PauseCollection);
        Assert.Equal(new Dictionary<string, string> { ["pause_collection"] = "" }, _stripe.State.Requests.Last(r => r.Method == "POST" && r.Path == path).Form);
        await _stripe.State.PayAsync(sub.Id, Ct);
        Assert.Equal("paid", (await client.ListInvoicesAsync(sub.CustomerId, 1, Ct)).Single().Status);
        Assert.Throws<ArgumentException>(() => StripeNetBilling.SubscriptionUpdateOptions(new UpdateSubscriptionRequest(PauseCollection: "skip")));
    }

    [Fact]
    public async Task FromRetrieved_OfARetrievedSubscription_MatchesWhatTheWebhookSays()
    {
        var client = Client();
        var sub = await SubscribeAsync(client, "t-reread", trialDays: 7);
        var observedAt = DateTimeOffset.UtcNow;

        var result = StripeSubscriptionMapper.FromRetrieved(sub, observedAt);
        var fromWebhook = StripeSubscriptionEvents.Read((await EventsAsync(StripeSubscriptionEvents.SubscriptionCreated))[0]);

        Assert.True(result.Succeeded, result.Error);
        Assert.True(fromWebhook.Succeeded, fromWebhook.Error);
        Assert.Equal("trialing", result.Update.Status);
        Assert.Equal(fromWebhook.Update with { EventId = "", EventType = "", EventCreated = default, PriceIds = [] },
            result.Update with { EventId = "", EventType = "", EventCreated = default, PriceIds = [] });
        Assert.Equal(fromWebhook.Update.PriceIds, result.Update.PriceIds);
        Assert.Equal((StripeSubscriptionMapper.RetrievedEventType, observedAt), (result.Update.EventType, result.Update.EventCreated));
        Assert.Equal(sub.TrialEnd, sub.Items.Data[0].CurrentPeriodEnd);
        Assert.Equal(StripeSubscriptionMapper.Utc(sub.TrialStart), result.Update.CurrentPeriodStart);
    }

    [Fact]
    public void FromRetrieved_OfStripesFixture_WithoutTenantMetadata_Fails_AndReadsThePeriodFromTheItem()
    {
        var fixture = StripeEntity.FromJson<Subscription>(System.IO.File.ReadAllText(Path.Combine(RepoPaths.StripeTestData, "subscription.json")));

        Assert.Equal("metadata.tenant_id missing", StripeSubscriptionMapper.FromRetrieved(fixture, DateTimeOffset.UtcNow).Error);
        var withTenant = StripeSubscriptionMapper.FromRetrieved(new Subscription
        {
            Id = fixture.Id, Status = fixture.Status, Items = fixture.Items, CustomerId = fixture.CustomerId, Metadata = new() { ["tenant_id"] = "acme" },
        }, DateTimeOffset.UtcNow);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(976287773), withTenant.Update!.CurrentPeriodEnd); // from the item, as in API versions >= 2025-03-31
        Assert.Equal((FixturePrice, "cus_QXg1o8vcGmoR32", true), (fixture.Items.Data.Single().Price.Id, fixture.CustomerId, fixture.CancelAtPeriodEnd));
    }
}
