using System.Text.Json;

namespace EntitlementDecision.Stripe;

/// <summary>
/// Parses a Stripe webhook body into a <see cref="StripeEvent"/> (Stripe API "Event object"). Does not check
/// signatures: verify the raw bytes with <see cref="WebhookSignatureVerifier"/> first (as stripe-dotnet's
/// <c>EventUtility</c> keeps <c>ValidateSignature</c> apart from <c>ParseEvent</c>).
/// </summary>
public static class StripeEventParser
{
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 64 };

    /// <summary>Parses the event envelope.</summary>
    /// <param name="json">The UTF-8 request body.</param>
    /// <returns>The event; <see cref="StripeEvent.DataObject"/> is a detached copy of <c>data.object</c>.</returns>
    /// <exception cref="StripeEventFormatException">
    /// The body is not valid JSON or not a JSON object; <c>id</c> or <c>type</c> is missing, not a string or empty;
    /// <c>created</c> is missing or not an integer number of Unix seconds in range; <c>data</c> or <c>data.object</c>
    /// is missing or not an object; <c>livemode</c> is present but not a boolean; <c>api_version</c> is present but
    /// neither a string nor null; <c>object</c> is present but not <c>"event"</c>. The message names the field.
    /// </exception>
    public static StripeEvent Parse(ReadOnlySpan<byte> json)
    {
        JsonDocument document;
        try
        {
            // JsonDocument.Parse needs memory, not a span: copy once (webhook bodies are small).
            document = JsonDocument.Parse(json.ToArray(), Options);
        }
        catch (JsonException ex)
        {
            throw new StripeEventFormatException(null, $"The payload is not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new StripeEventFormatException(null, $"The payload must be a JSON object (an event), not {root.ValueKind}.", null);
            }

            if (root.TryGetProperty("object", out var objectKind)
                && !(objectKind.ValueKind == JsonValueKind.String && objectKind.ValueEquals("event")))
            {
                throw new StripeEventFormatException("object", $"Field 'object' must be \"event\", was {Describe(objectKind)}.", null);
            }

            var id = RequiredString(root, "id");
            var type = RequiredString(root, "type");

            if (!root.TryGetProperty("created", out var createdElement))
            {
                throw new StripeEventFormatException("created", "Field 'created' is missing.", null);
            }

            if (!StripeJson.TryGetUnixTime(createdElement, out var created))
            {
                throw new StripeEventFormatException("created", $"Field 'created' must be an integer of Unix seconds, was {Describe(createdElement)}.", null);
            }

            var livemode = false;
            if (root.TryGetProperty("livemode", out var livemodeElement))
            {
                livemode = livemodeElement.ValueKind switch
                {
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    _ => throw new StripeEventFormatException("livemode", $"Field 'livemode' must be a boolean, was {Describe(livemodeElement)}.", null),
                };
            }

            string? apiVersion = null;
            if (root.TryGetProperty("api_version", out var apiVersionElement))
            {
                apiVersion = apiVersionElement.ValueKind switch
                {
                    JsonValueKind.String => apiVersionElement.GetString(),
                    JsonValueKind.Null => null,
                    _ => throw new StripeEventFormatException("api_version", $"Field 'api_version' must be a string or null, was {Describe(apiVersionElement)}.", null),
                };
            }

            if (!root.TryGetProperty("data", out var data))
            {
                throw new StripeEventFormatException("data", "Field 'data' is missing.", null);
            }

            if (data.ValueKind != JsonValueKind.Object)
            {
                throw new StripeEventFormatException("data", $"Field 'data' must be an object, was {Describe(data)}.", null);
            }

            if (!data.TryGetProperty("object", out var dataObject))
            {
                throw new StripeEventFormatException("data.object", "Field 'data.object' is missing.", null);
            }

            if (dataObject.ValueKind != JsonValueKind.Object)
            {
                throw new StripeEventFormatException("data.object", $"Field 'data.object' must be an object, was {Describe(dataObject)}.", null);
            }

            return new StripeEvent(id, type, created, livemode, apiVersion, dataObject.Clone());
        }
    }

    private static string RequiredString(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var element))
        {
            throw new StripeEventFormatException(name, $"Field '{name}' is missing.", null);
        }

        if (element.ValueKind != JsonValueKind.String)
        {
            throw new StripeEventFormatException(name, $"Field '{name}' must be a string, was {Describe(element)}.", null);
        }

        var value = element.GetString();
        if (string.IsNullOrEmpty(value))
        {
            throw new StripeEventFormatException(name, $"Field '{name}' must not be empty.", null);
        }

        return value;
    }

    private static string Describe(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => element.ValueKind.ToString(),
    };
}
