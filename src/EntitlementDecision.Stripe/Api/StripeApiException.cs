namespace EntitlementDecision.Stripe.Api;

/// <summary>
/// A Stripe API call failed: Stripe answered an error (its <c>error</c> object: <c>type</c>, <c>code</c>, <c>param</c>,
/// <c>message</c>, <c>decline_code</c>), or the network/timeout failed after the retries. Never carries the API key.
/// Map it to an HTTP answer with <see cref="StripeProblemDetails.From"/>.
/// </summary>
public sealed class StripeApiException : Exception
{
    /// <summary><see cref="StripeErrorType"/> of a transport failure (no HTTP answer, or a timeout).</summary>
    public const string NetworkErrorType = "network_error";

    /// <summary><see cref="StripeErrorType"/> of a success status whose body is not the expected object.</summary>
    public const string InvalidResponseType = "invalid_response";

    public StripeApiException(
        int? httpStatus,
        string? stripeErrorType,
        string? code,
        string? param,
        string message,
        string? requestId,
        int attempts,
        string? declineCode = null,
        Exception? innerException = null)
        : base(message, innerException)
    {
        HttpStatus = httpStatus;
        StripeErrorType = stripeErrorType;
        Code = code;
        Param = param;
        RequestId = requestId;
        Attempts = attempts;
        DeclineCode = declineCode;
    }

    /// <summary>Stripe's HTTP status (400, 401, 402, 403, 404, 409, 429, 5xx), or null when no answer came (network error, timeout).</summary>
    public int? HttpStatus { get; }

    /// <summary><c>error.type</c>: api_error, card_error, idempotency_error, invalid_request_error, or <see cref="NetworkErrorType"/>; null when Stripe's body had none.</summary>
    public string? StripeErrorType { get; }

    /// <summary><c>error.code</c>, e.g. <c>resource_missing</c>, <c>lock_timeout</c>, <c>card_declined</c>; or null.</summary>
    public string? Code { get; }

    /// <summary><c>error.param</c>: the parameter Stripe objected to (e.g. <c>line_items[0][price]</c>), or null.</summary>
    public string? Param { get; }

    /// <summary><c>error.decline_code</c> of a card error, or null.</summary>
    public string? DeclineCode { get; }

    /// <summary>Stripe's <c>Request-Id</c> response header (<c>req_...</c>), for Stripe's dashboard and support; null without an answer.</summary>
    public string? RequestId { get; }

    /// <summary>How many times the request was sent (1 = not retried).</summary>
    public int Attempts { get; }

    /// <summary>True when the request was retried before failing.</summary>
    public bool Retried => Attempts > 1;
}
