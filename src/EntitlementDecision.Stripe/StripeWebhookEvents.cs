using System.Text;
using System.Text.Json;
using global::Stripe;

namespace EntitlementDecision.Stripe;

/// <summary>
/// Parses a verified webhook body into Stripe.net's <see cref="Event"/> (<see cref="EventUtility.ParseEvent"/>). Signatures
/// are checked before, on the raw bytes, by <see cref="WebhookSignatureVerifier"/>.
/// </summary>
public static class StripeWebhookEvents
{
    /// <summary>
    /// The event of <paramref name="body"/>. Events of another API version than Stripe.net's are accepted (the mapper
    /// reads the fields that moved between versions from both places).
    /// </summary>
    /// <exception cref="StripeEventFormatException">Not UTF-8 JSON, not an object of type <c>event</c>, a field of the wrong
    /// type, or <c>id</c>, <c>type</c>, <c>created</c> or <c>data.object</c> missing; the message names the field.</exception>
    public static Event Parse(ReadOnlySpan<byte> body) => Parse(Utf8(body));

    /// <summary>The body as text; the receiver stores exactly this string and the processor parses it again later.</summary>
    /// <exception cref="StripeEventFormatException">The bytes are not UTF-8.</exception>
    public static string Utf8(ReadOnlySpan<byte> body)
    {
        try
        {
            return StrictUtf8.GetString(body);
        }
        catch (DecoderFallbackException e)
        {
            throw new StripeEventFormatException(null, "The payload is not UTF-8.", e);
        }
    }

    /// <summary>The event of the JSON text <paramref name="json"/>; same rules and errors as the byte overload.</summary>
    public static Event Parse(string json)
    {
        Event stripeEvent;
        try
        {
            stripeEvent = EventUtility.ParseEvent(json, throwOnApiVersionMismatch: false);
        }
        catch (JsonException e) when (FieldOf(e) is { } field)
        {
            throw new StripeEventFormatException(field, $"Field '{field}' has the wrong type: {e.Message}", e);
        }
        catch (Exception e) when (e is JsonException or StripeException or FormatException or InvalidOperationException or ArgumentException)
        {
            throw new StripeEventFormatException(null, $"The payload is not a JSON object of a Stripe event: {e.Message}", e);
        }

        if (stripeEvent is null)
        {
            throw new StripeEventFormatException(null, "The payload is not a JSON object of a Stripe event.", null);
        }

        if (stripeEvent.Object is { } kind && kind != "event")
        {
            throw new StripeEventFormatException("object", $"Field 'object' must be \"event\", was \"{kind}\".", null);
        }

        Required(stripeEvent.Id, "id");
        Required(stripeEvent.Type, "type");
        if (StripeSubscriptionMapper.Utc(stripeEvent.Created) is null)
        {
            throw new StripeEventFormatException("created", "Field 'created' is missing.", null);
        }

        if (stripeEvent.Data is null || DataObject(stripeEvent) is not { ValueKind: JsonValueKind.Object })
        {
            throw new StripeEventFormatException("data.object", "Field 'data.object' is missing or not an object.", null);
        }

        return stripeEvent;
    }

    /// <summary>When Stripe created the event, UTC (Stripe.net gives a UTC <see cref="DateTime"/>).</summary>
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    public static DateTimeOffset CreatedAt(this Event stripeEvent) => new(DateTime.SpecifyKind(stripeEvent.Created, DateTimeKind.Utc));


    /// <summary>The <c>object</c> string of <c>data.object</c> (e.g. <c>subscription</c>), or null.</summary>
    public static string? DataObjectKind(this Event stripeEvent) =>
        DataObject(stripeEvent) is { ValueKind: JsonValueKind.Object } o
        && o.TryGetProperty("object", out var kind) && kind.ValueKind == JsonValueKind.String ? kind.GetString() : null;

    /// <summary><c>data.object</c> as received (also for object types Stripe.net does not model), or null.</summary>
    public static JsonElement? DataObject(this Event stripeEvent) =>
        stripeEvent.RawJsonElement is { ValueKind: JsonValueKind.Object } raw
        && raw.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Object
        && data.TryGetProperty("object", out var o) ? o : null;

    // System.Text.Json names the offending member as a path ("$.data.object"); null for the whole document.
    private static string? FieldOf(JsonException e) =>
        e.Path is { Length: > 2 } path && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : null;

    private static void Required(string? value, string field)
    {
        if (string.IsNullOrEmpty(value))
        {
            throw new StripeEventFormatException(field, $"Field '{field}' is missing or empty.", null);
        }
    }
}
