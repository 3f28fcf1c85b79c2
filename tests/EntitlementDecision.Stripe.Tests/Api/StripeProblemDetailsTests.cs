using System.Net;
using EntitlementDecision.Stripe.Api;
using Stripe;

namespace EntitlementDecision.Stripe.Tests.Api;

public sealed class StripeProblemDetailsTests
{
    [Theory]
    [InlineData(null, StripeErrors.ConnectionErrorType, null, 502, "Stripe unavailable")]
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
    public void From_MapsStatusAndType(int? httpStatus, string type, string? code, int expectedStatus, string expectedTitle)
    {
        var problem = StripeProblemDetails.From(Error(httpStatus, type, code, "Stripe said no.", "req_123"));

        Assert.Equal((expectedStatus, expectedTitle), (problem.Status, problem.Title));
        Assert.Equal(httpStatus is null ? null : "req_123", problem.Extensions.TryGetValue("stripe_request_id", out var requestId) ? (string?)requestId : null);
        Assert.Equal(type, problem.Extensions["stripe_error_type"]);
    }

    [Fact]
    public void From_RedactsKeysInStripesMessage()
    {
        var problem = StripeProblemDetails.From(Error(400, "invalid_request_error", null,
            "Bad request with sk_test_51abcDEF and rk_live_xyz987 and whsec_abc123", null));

        Assert.Equal("Bad request with [redacted] and [redacted] and [redacted]", problem.Detail);
    }

    [Fact]
    public void From_CardError_KeepsStripesMessageAndDeclineCode()
    {
        var problem = StripeProblemDetails.From(Error(402, "card_error", "card_declined", "Your card was declined.", "req_9", "insufficient_funds"));

        Assert.Equal((422, "Your card was declined.", "insufficient_funds"), (problem.Status, problem.Detail, problem.Extensions["stripe_decline_code"]));
    }

    // A StripeException as Stripe.net raises it: the status, Stripe's error body and the answer's Request-Id.
    private static StripeException Error(int? status, string type, string? code, string message, string? requestId, string? declineCode = null)
    {
        if (status is null)
        {
            return StripeErrors.ConnectionError(message);
        }

        var error = new StripeException((HttpStatusCode)status, new StripeError { Type = type, Code = code, Message = message, DeclineCode = declineCode }, message);
        if (requestId is not null)
        {
            using var answer = new HttpResponseMessage((HttpStatusCode)status);
            answer.Headers.Add("Request-Id", requestId);
            error.StripeResponse = new StripeResponse((HttpStatusCode)status, answer.Headers, "{}");
        }

        return error;
    }
}
