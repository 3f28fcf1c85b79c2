using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using global::Stripe;

namespace EntitlementDecision.Stripe.Api;

/// <summary>
/// Maps a <see cref="StripeException"/> (Stripe.net) to an RFC 9457 ProblemDetails in one place:
/// <list type="bullet">
/// <item>no answer (<c>api_connection_error</c>), Stripe 5xx → 502 "Stripe unavailable"; 429 after retries → 503 "Stripe is rate limiting";</item>
/// <item>401/403 (our key is wrong or lacks permission) → 502 "Stripe rejected the platform's credentials", without Stripe's message;</item>
/// <item>402 card_error → 422 "Payment declined" with Stripe's message; 404 → 404 "Not found in Stripe";</item>
/// <item>409 and idempotency_error → 409 "Conflict in Stripe"; other 4xx (invalid_request_error) → 400 "Stripe rejected the request".</item>
/// </list>
/// Extensions: <c>stripe_error_type</c>, <c>stripe_error_code</c>, <c>stripe_param</c>, <c>stripe_decline_code</c>,
/// <c>stripe_request_id</c> when known. Anything that looks like a Stripe key (<c>sk_</c>, <c>rk_</c>, <c>pk_</c>,
/// <c>whsec_</c>) in a message is replaced by <c>[redacted]</c>.
/// </summary>
public static partial class StripeProblemDetails
{
    /// <summary>The ProblemDetails for <paramref name="exception"/> (status, title, detail and Stripe's identifiers as extensions).</summary>
    public static ProblemDetails From(StripeException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var error = exception.StripeError;
        var message = error?.Message ?? exception.Message;
        var (status, title, detail) = exception.Status() switch
        {
            null => (StatusCodes.Status502BadGateway, "Stripe unavailable", "Stripe could not be reached; try again later."),
            >= 500 => (StatusCodes.Status502BadGateway, "Stripe unavailable", "Stripe answered with a server error; try again later."),
            429 => (StatusCodes.Status503ServiceUnavailable, "Stripe is rate limiting", "Too many requests to Stripe; try again later."),
            401 or 403 => (StatusCodes.Status502BadGateway, "Stripe rejected the platform's credentials", "The platform's Stripe API key was refused; contact the operator."),
            402 => (StatusCodes.Status422UnprocessableEntity, "Payment declined", Redact(message)),
            404 => (StatusCodes.Status404NotFound, "Not found in Stripe", Redact(message)),
            409 => (StatusCodes.Status409Conflict, "Conflict in Stripe", Redact(message)),
            _ when error?.Type == "idempotency_error" => (StatusCodes.Status409Conflict, "Conflict in Stripe", Redact(message)),
            _ => (StatusCodes.Status400BadRequest, "Stripe rejected the request", Redact(message)),
        };

        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail };
        AddIfSet(problem, "stripe_error_type", error?.Type);
        AddIfSet(problem, "stripe_error_code", error?.Code);
        AddIfSet(problem, "stripe_param", error?.Param);
        AddIfSet(problem, "stripe_decline_code", error?.DeclineCode);
        AddIfSet(problem, "stripe_request_id", exception.RequestId());
        return problem;
    }

    /// <summary>Replaces anything shaped like a Stripe secret, publishable or restricted key, or webhook secret by <c>[redacted]</c>.</summary>
    public static string Redact(string message) => KeyPattern().Replace(message ?? "", "[redacted]");

    private static void AddIfSet(ProblemDetails problem, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            problem.Extensions[name] = value;
        }
    }

    [GeneratedRegex(@"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9_*]+|\bwhsec_[A-Za-z0-9_*]+|\b(?:sk|rk)_[A-Za-z0-9_*]{6,}")]
    private static partial Regex KeyPattern();
}
