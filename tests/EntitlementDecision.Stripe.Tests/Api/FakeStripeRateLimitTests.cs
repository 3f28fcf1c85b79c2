using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using EntitlementDecision.FakeStripe;
using EntitlementDecision.Stripe.Api;
using Stripe;

namespace EntitlementDecision.Stripe.Tests.Api;

/// <summary>
/// The fake enforces Stripe's rate limits per second of its own clock (a FakeTimeProvider that only moves when told): 25 operations
/// per test key, 100 per live key, 25 requests per endpoint; over a limit 429 <c>rate_limit</c>, recorded, changing nothing.
/// </summary>
public sealed class FakeStripeRateLimitTests
{
    private const string TestKey = "sk_test_rate_limits_51Hx9";
    private const string LiveKey = "sk_live_rate_limits_51Hx9";
    private const string TestModeMessage = "Testmode request rate limit exceeded, the rate limits in testmode are lower than livemode. You can learn more about rate limits here https://stripe.com/docs/rate-limits.";
    private const string Message = "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.";

    // Five endpoints, so that 100 requests round-robin stay within 25 per endpoint.
    private static readonly string[] FiveEndpoints =
        ["/v1/prices", $"/v1/prices/{StripeNetBillingTests.FixturePrice}", "/v1/events", "/v1/subscriptions", "/v1/invoices"];

    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly HttpClient _http = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Task<FakeStripeServer> StartAsync(FakeStripeRateLimits? limits) =>
        FakeStripeServer.StartAsync(new FakeStripeOptions { TimeProvider = _clock, RateLimits = limits }, cancellationToken: Ct);

    private Task<FakeStripeServer> StartAsync() => StartAsync(new FakeStripeRateLimits());

    private async Task<HttpResponseMessage> SendAsync(FakeStripeServer stripe, HttpMethod method, string path, string? key = TestKey, Dictionary<string, string>? form = null, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(stripe.BaseUrl, path.TrimStart('/')));
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        if (form is not null)
        {
            request.Content = new FormUrlEncodedContent(form);
        }

        return await _http.SendAsync(request, Ct);
    }

    private async Task<HttpStatusCode> StatusAsync(FakeStripeServer stripe, HttpMethod method, string path, string? key = TestKey, Dictionary<string, string>? form = null)
    {
        using var response = await SendAsync(stripe, method, path, key, form);
        return response.StatusCode;
    }

    /// <summary>A subscription made through checkout, then a fresh second (the checkout's operation is in the one before).</summary>
    private async Task<string> SubscribeAsync(FakeStripeServer stripe, string key)
    {
        using var created = await SendAsync(stripe, HttpMethod.Post, "/v1/checkout/sessions", key, new()
        {
            ["mode"] = "subscription",
            ["line_items[0][price]"] = StripeNetBillingTests.FixturePrice,
            ["success_url"] = "https://app.example.com/ok",
        });
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        var session = (string)JsonNode.Parse(await created.Content.ReadAsStringAsync(Ct))!["id"]!;
        var completed = await stripe.State.CompleteCheckoutSessionAsync(session, Ct);
        _clock.Advance(TimeSpan.FromSeconds(1));
        return (string)completed.Object["id"]!;
    }

    // Read with another account's key, so the count spends none of the budget under test.
    private async Task<int> CountEventsAsync(FakeStripeServer stripe)
    {
        using var response = await SendAsync(stripe, HttpMethod.Get, "/v1/events?limit=100", "sk_live_observer_0001");
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!["data"]!.AsArray().Count;
    }

    [Fact]
    public async Task TwentySixthSubscriptionReadInOneSecond_Answers429WithStripesBodyAndReason()
    {
        await using var stripe = await StartAsync();
        var sub = await SubscribeAsync(stripe, LiveKey);

        // Every GET /v1/subscriptions/{id} shares one budget, whatever the id (unknown ids answer 404 and count too).
        for (var i = 0; i < 25; i++)
        {
            var path = i % 2 == 0 ? $"/v1/subscriptions/{sub}" : $"/v1/subscriptions/sub_unknown{i}";
            Assert.Equal(i % 2 == 0 ? HttpStatusCode.OK : HttpStatusCode.NotFound, await StatusAsync(stripe, HttpMethod.Get, path, LiveKey));
        }

        using var limited = await SendAsync(stripe, HttpMethod.Get, $"/v1/subscriptions/{sub}", LiveKey);

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal("endpoint-rate", limited.Headers.GetValues("Stripe-Rate-Limited-Reason").Single());
        Assert.False(limited.Headers.Contains("Stripe-Should-Retry"), "Stripe sends no Stripe-Should-Retry on rate limits");
        Assert.False(limited.Headers.Contains("Retry-After"), "Stripe documents no Retry-After");
        Assert.True(limited.Headers.Contains("Request-Id"));
        var error = JsonNode.Parse(await limited.Content.ReadAsStringAsync(Ct))!["error"]!;
        Assert.Equal(("invalid_request_error", "rate_limit", Message, "https://stripe.com/docs/error-codes/rate-limit"),
            ((string?)error["type"], (string?)error["code"], (string?)error["message"], (string?)error["doc_url"]));
        Assert.Equal(429, stripe.State.Requests[^1].Status);
        Assert.Equal(26, stripe.State.Requests.Count(r => r.Path.StartsWith("/v1/subscriptions/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task EndpointOverItsLimit_OtherEndpointsStillAnswer()
    {
        await using var stripe = await StartAsync();
        var sub = await SubscribeAsync(stripe, LiveKey);
        for (var i = 0; i < 25; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Get, $"/v1/subscriptions/{sub}", LiveKey));
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, await StatusAsync(stripe, HttpMethod.Get, $"/v1/subscriptions/{sub}", LiveKey));

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Get, "/v1/subscriptions", LiveKey)); // the list is another endpoint
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Get, $"/v1/prices/{StripeNetBillingTests.FixturePrice}", LiveKey));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Post, $"/v1/subscriptions/{sub}", LiveKey, new() { ["metadata[k]"] = "v" }));
    }

    [Fact]
    public async Task NextSecond_AnswersAgain()
    {
        await using var stripe = await StartAsync();
        for (var i = 0; i < 25; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Get, "/v1/prices"));
        }

        _clock.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal(HttpStatusCode.TooManyRequests, await StatusAsync(stripe, HttpMethod.Get, "/v1/prices")); // still the same second

        _clock.Advance(TimeSpan.FromMilliseconds(1));
        for (var i = 0; i < 25; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Get, "/v1/prices"));
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, await StatusAsync(stripe, HttpMethod.Get, "/v1/prices"));
    }

    [Theory]
    [InlineData(TestKey, 25, TestModeMessage)]
    [InlineData("rk_test_rate_limits_51Hx9", 25, TestModeMessage)]
    [InlineData(LiveKey, 100, Message)]
    [InlineData("rk_live_rate_limits_51Hx9", 100, Message)]
    public async Task AccountOverItsModesLimit_Answers429GlobalRate(string key, int perSecond, string message)
    {
        await using var stripe = await StartAsync();
        for (var i = 0; i < perSecond; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Get, FiveEndpoints[i % FiveEndpoints.Length], key));
        }

        using var limited = await SendAsync(stripe, HttpMethod.Get, "/v1/customers/cus_unknown", key); // an endpoint not used yet

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal("global-rate", limited.Headers.GetValues("Stripe-Rate-Limited-Reason").Single());
        Assert.Equal(message, (string?)JsonNode.Parse(await limited.Content.ReadAsStringAsync(Ct))!["error"]!["message"]);
    }

    [Fact]
    public async Task EachKey_HasItsOwnBudget()
    {
        await using var stripe = await StartAsync();
        for (var i = 0; i < 25; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Get, FiveEndpoints[i % FiveEndpoints.Length]));
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, await StatusAsync(stripe, HttpMethod.Get, "/v1/prices"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Get, "/v1/prices", "sk_test_another_account_0001"));
    }

    [Fact]
    public async Task RateLimitedUpdate_ChangesNothing_AndItsIdempotencyKeyWorksLater()
    {
        await using var stripe = await StartAsync();
        var sub = await SubscribeAsync(stripe, LiveKey);
        var eventsBefore = await CountEventsAsync(stripe);
        for (var i = 0; i < 25; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Post, $"/v1/subscriptions/{sub}", LiveKey, new() { [$"metadata[n{i}]"] = "x" }));
        }

        var eventsAfterUpdates = await CountEventsAsync(stripe);
        var over = new Dictionary<string, string> { ["metadata[over]"] = "limit" };
        using (var limited = await SendAsync(stripe, HttpMethod.Post, $"/v1/subscriptions/{sub}", LiveKey, over, "update-over-limit"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
            Assert.False(limited.Headers.Contains("Idempotent-Replayed"));
        }

        Assert.Null(stripe.State.Find(sub)!["metadata"]!["over"]);
        Assert.Equal(eventsAfterUpdates, await CountEventsAsync(stripe));
        Assert.Equal(eventsBefore + 25, eventsAfterUpdates);

        _clock.Advance(TimeSpan.FromSeconds(1));
        using var retried = await SendAsync(stripe, HttpMethod.Post, $"/v1/subscriptions/{sub}", LiveKey, over, "update-over-limit");
        Assert.Equal(HttpStatusCode.OK, retried.StatusCode);
        Assert.False(retried.Headers.Contains("Idempotent-Replayed"), "the 429 was not stored under the key");
        Assert.Equal("limit", (string?)stripe.State.Find(sub)!["metadata"]!["over"]);
    }

    [Fact]
    public async Task FakeControls_AreNeverLimitedNorRecorded()
    {
        await using var stripe = await StartAsync();
        var sub = await SubscribeAsync(stripe, TestKey);
        for (var i = 0; i < 25; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Get, FiveEndpoints[i % FiveEndpoints.Length]));
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, await StatusAsync(stripe, HttpMethod.Get, "/v1/prices"));
        var recorded = stripe.State.Requests.Count;

        for (var i = 0; i < 40; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Get, "/_fake/requests", key: null));
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Get, "/_fake/requests/summary", key: null));
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Get, "/_fake/faults", TestKey));
        }

        for (var i = 0; i < 30; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Post, $"/_fake/subscriptions/{sub}/pay", key: null));
        }

        Assert.Equal(recorded, stripe.State.Requests.Count);
    }

    [Fact]
    public async Task InjectedFaults_CountAgainstTheBudget_AndTheLimitAnswersFirst()
    {
        await using var stripe = await StartAsync();
        stripe.State.AddFault(new FakeFault("/v1/prices", 500, Count: 30));
        for (var i = 0; i < 25; i++)
        {
            Assert.Equal(HttpStatusCode.InternalServerError, await StatusAsync(stripe, HttpMethod.Get, "/v1/prices"));
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, await StatusAsync(stripe, HttpMethod.Get, "/v1/prices"));
        Assert.Equal(HttpStatusCode.TooManyRequests, await StatusAsync(stripe, HttpMethod.Get, "/v1/events")); // the account's budget is spent too

        Assert.Equal(5, stripe.State.PendingFaults.Single().Remaining); // a request over the limit does not use a fault
    }

    [Fact]
    public async Task RequestsWithoutAKey_AreNotLimited_AndAnswer401()
    {
        await using var stripe = await StartAsync();
        for (var i = 0; i < 30; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(stripe, HttpMethod.Get, "/v1/prices", key: null));
        }
    }

    [Fact]
    public async Task RateLimitsOff_NothingIsLimited()
    {
        await using var stripe = await StartAsync(limits: null);
        for (var i = 0; i < 60; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Get, "/v1/prices"));
        }

        Assert.Equal(0, stripe.State.RequestSummary.RateLimited);
    }

    [Fact]
    public async Task CustomLimits_AreEnforced()
    {
        await using var stripe = await StartAsync(new FakeStripeRateLimits { TestModeOperationsPerSecond = 1000, EndpointRequestsPerSecond = 40 });
        for (var i = 0; i < 40; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Get, "/v1/prices"));
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, await StatusAsync(stripe, HttpMethod.Get, "/v1/prices"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Get, "/v1/events"));
    }

    [Fact]
    public async Task InvalidLimits_AreRefusedAtStart()
    {
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => StartAsync(new FakeStripeRateLimits { EndpointRequestsPerSecond = 0 }));
    }

    [Fact]
    public async Task StripeNet_GetsARateLimitError_AndDoesNotRetryIt()
    {
        await using var stripe = await StartAsync();
        var client = new StripeNetBilling(_http, new StripeApiOptions { ApiKey = TestKey, BaseAddress = stripe.BaseUrl, MaxNetworkRetries = 2 });
        for (var i = 0; i < 25; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Get, FiveEndpoints[i % FiveEndpoints.Length]));
        }

        var error = await Assert.ThrowsAsync<StripeException>(() => client.GetSubscriptionAsync("sub_any", Ct));

        Assert.Equal((HttpStatusCode.TooManyRequests, "rate_limit"), (error.HttpStatusCode, error.StripeError?.Code));
        Assert.Equal(503, StripeProblemDetails.From(error).Status);
        Assert.Equal(26, stripe.State.Requests.Count); // no retries: Stripe.net retries a 429 only when told to
    }

    [Fact]
    public async Task ShouldRetryTrue_SendsTheHeader_AndStripeNetRetries()
    {
        await using var stripe = await StartAsync(new FakeStripeRateLimits { ShouldRetry = true });
        var client = new StripeNetBilling(_http, new StripeApiOptions { ApiKey = TestKey, BaseAddress = stripe.BaseUrl, MaxNetworkRetries = 1 });
        for (var i = 0; i < 25; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(stripe, HttpMethod.Get, FiveEndpoints[i % FiveEndpoints.Length]));
        }

        using (var limited = await SendAsync(stripe, HttpMethod.Get, "/v1/prices"))
        {
            Assert.Equal("true", limited.Headers.GetValues("Stripe-Should-Retry").Single());
        }

        await Assert.ThrowsAsync<StripeException>(() => client.GetSubscriptionAsync("sub_any", Ct)); // the clock stands still: the retry is limited too

        Assert.Equal(2, stripe.State.Requests.Count(r => r.Path == "/v1/subscriptions/sub_any"));
    }

    [Fact]
    public async Task Summary_CountsRequestsStatusesRateLimitedAndPeaks()
    {
        await using var stripe = await StartAsync();
        var sub = await SubscribeAsync(stripe, LiveKey); // second 0: POST /v1/checkout/sessions
        for (var i = 0; i < 27; i++)
        {
            await StatusAsync(stripe, HttpMethod.Get, $"/v1/subscriptions/{sub}", LiveKey); // second 1: 25 answered, 2 limited
        }

        _clock.Advance(TimeSpan.FromSeconds(1));
        await StatusAsync(stripe, HttpMethod.Get, "/v1/subscriptions/sub_unknown", LiveKey); // second 2: 404
        await StatusAsync(stripe, HttpMethod.Post, $"/v1/subscriptions/{sub}", LiveKey, new() { ["metadata[k]"] = "v" });
        await StatusAsync(stripe, HttpMethod.Get, "/v1/prices", key: null); // 401, not limited

        using var response = await SendAsync(stripe, HttpMethod.Get, "/_fake/requests/summary", key: null);
        var summary = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!;

        Assert.Equal(31, (long)summary["total"]!);
        Assert.Equal(
            new Dictionary<string, long> { ["200"] = 27, ["401"] = 1, ["404"] = 1, ["429"] = 2 },
            summary["by_status"]!.AsObject().ToDictionary(p => p.Key, p => (long)p.Value!));
        Assert.Equal(2, (long)summary["rate_limited"]!);
        Assert.Equal(27, (int)summary["peak_requests_per_second"]!);
        var endpoints = summary["endpoints"]!.AsObject();
        Assert.Equal(
            ["GET /v1/prices", "GET /v1/subscriptions/:id", "POST /v1/checkout/sessions", "POST /v1/subscriptions/:id"],
            endpoints.Select(e => e.Key));
        var reads = endpoints["GET /v1/subscriptions/:id"]!;
        Assert.Equal((28L, 2L, 27), ((long)reads["requests"]!, (long)reads["rate_limited"]!, (int)reads["peak_requests_per_second"]!));

        Assert.Equal(HttpStatusCode.NoContent, await StatusAsync(stripe, HttpMethod.Delete, "/_fake/requests", key: null));
        var cleared = stripe.State.RequestSummary;
        Assert.Equal((0L, 0L, 0, 0, 0), (cleared.Total, cleared.RateLimited, cleared.PeakRequestsPerSecond, cleared.ByStatus.Count, cleared.Endpoints.Count));
    }
}
