using EntitlementDecision.Stripe.Api;

namespace EntitlementDecision.Stripe.Tests.Api;

public sealed class StripeProblemDetailsTests
{
    [Theory]
    [InlineData(null, StripeApiException.NetworkErrorType, null, 502, "Stripe unavailable")]
    [InlineData(500, "api_error", null, 502, "Stripe unavailable")]
    [InlineData(503, "api_error", null, 502, "Stripe unavailable")]
    [InlineData(429, "invalid_request_error", "rate_limit", 503, "Stripe is rate limiting")]
    [InlineData(401, "invalid_request_error", "api_key_invalid", 502, "Stripe rejected the platform's credentials")]
    [InlineData(403, "invalid_request_error", null, 502, "Stripe rejected the platform's credentials")]
    [InlineData(402, "card_error", "card_declined", 422, "Payment declined")]
    [InlineData(404, "invalid_request_error", "resource_missing", 404, "Not found in Stripe")]
    [InlineData(409, "invalid_request_error", "lock_timeout", 409, "Conflict in Stripe")]
    [InlineData(400, "idempotency_error", null, 409, "Conflict in Stripe")]
    [InlineData(400, "invalid_request_error", "parameter_unknown", 400, "Stripe rejected the request")]
    [InlineData(200, StripeApiException.InvalidResponseType, null, 502, "Stripe unavailable")]
    public void From_MapsStatusAndType(int? httpStatus, string type, string? code, int expectedStatus, string expectedTitle)
    {
        var problem = StripeProblemDetails.From(new StripeApiException(httpStatus, type, code, null, "Stripe said no.", "req_123", 1));

        Assert.Equal((expectedStatus, expectedTitle), (problem.Status, problem.Title));
        Assert.Equal("req_123", problem.Extensions["stripe_request_id"]);
        Assert.Equal(type, problem.Extensions["stripe_error_type"]);
    }

    [Fact]
    public void From_RedactsKeysInStripesMessage()
    {
        var problem = StripeProblemDetails.From(new StripeApiException(400, "invalid_request_error", null, null,
            "Bad request with sk_test_51abcDEF and rk_live_xyz987 and whsec_abc123", null, 1));

        Assert.Equal("Bad request with [redacted] and [redacted] and [redacted]", problem.Detail);
    }

    [Fact]
    public void From_CardError_KeepsStripesMessageAndDeclineCode()
    {
        var problem = StripeProblemDetails.From(new StripeApiException(402, "card_error", "card_declined", null, "Your card was declined.", "req_9", 1, "insufficient_funds"));

        Assert.Equal((422, "Your card was declined.", "insufficient_funds"), (problem.Status, problem.Detail, problem.Extensions["stripe_decline_code"]));
    }
}
