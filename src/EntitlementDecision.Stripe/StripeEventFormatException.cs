namespace EntitlementDecision.Stripe;

/// <summary>
/// Thrown by <see cref="StripeWebhookEvents.Parse(string)"/> when the body is not JSON or is not a Stripe event envelope.
/// The message names the offending field; <see cref="Field"/> carries it as a JSON path (e.g. <c>data.object</c>).
/// </summary>
public sealed class StripeEventFormatException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public StripeEventFormatException()
        : base("The payload is not a Stripe event.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public StripeEventFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the underlying cause (e.g. a <see cref="System.Text.Json.JsonException"/>).</summary>
    public StripeEventFormatException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for one field of the envelope.</summary>
    /// <param name="field">JSON path of the field, e.g. <c>created</c> or <c>data.object</c>; null when the whole body is at fault.</param>
    /// <param name="message">What is wrong with it.</param>
    /// <param name="innerException">The underlying cause, if any.</param>
    public StripeEventFormatException(string? field, string message, Exception? innerException)
        : base(message, innerException)
    {
        Field = field;
    }

    /// <summary>JSON path of the missing or ill-typed field (e.g. <c>id</c>, <c>data.object</c>), or null when the body is not a JSON object at all.</summary>
    public string? Field { get; }
}
