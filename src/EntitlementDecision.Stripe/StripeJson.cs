using System.Text.Json;

namespace EntitlementDecision.Stripe;

/// <summary>Small readers for Stripe's JSON conventions.</summary>
internal static class StripeJson
{
    private const long MaxUnixSeconds = 253_402_300_799;

    /// <summary>Reads an integer of Unix seconds (Stripe's timestamp format).</summary>
    public static bool TryGetUnixTime(JsonElement element, out DateTimeOffset value)
    {
        value = default;
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out var seconds) || seconds is < 0 or > MaxUnixSeconds)
        {
            return false;
        }

        value = DateTimeOffset.FromUnixTimeSeconds(seconds);
        return true;
    }

    /// <summary>The string property <paramref name="name"/> of an object, or null when absent, null or not a string.</summary>
    public static string? GetStringOrNull(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object
        && obj.TryGetProperty(name, out var element)
        && element.ValueKind == JsonValueKind.String
            ? element.GetString()
            : null;

    /// <summary>
    /// An id of an expandable field: Stripe sends either the id string (<c>"cus_..."</c>) or, when expanded,
    /// the object with an <c>id</c>. Null when absent or null.
    /// </summary>
    public static string? GetExpandableId(JsonElement obj, string name)
    {
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(name, out var element))
        {
            return null;
        }

        return element.ValueKind switch
        {
            JsonValueKind.String => element.GetString(),
            JsonValueKind.Object => GetStringOrNull(element, "id"),
            _ => null,
        };
    }
}
