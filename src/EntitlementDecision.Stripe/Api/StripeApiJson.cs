using System.Text.Json;
using System.Text.Json.Serialization;

namespace EntitlementDecision.Stripe.Api;

/// <summary>JSON settings for Stripe's API objects: snake_case names, unknown fields ignored, numbers strictly numbers.</summary>
public static class StripeApiJson
{
    /// <summary>Shared, read-only options (snake_case, case-sensitive like Stripe).</summary>
    public static readonly JsonSerializerOptions Options = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.General)
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}

/// <summary>Stripe timestamps: integer Unix seconds, as UTC <see cref="DateTimeOffset"/>.</summary>
public sealed class UnixSecondsConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : throw new JsonException("expected Unix seconds (an integer)");

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
        writer.WriteNumberValue(value.ToUnixTimeSeconds());
}

/// <summary>Optional Stripe timestamps: integer Unix seconds or null.</summary>
public sealed class NullableUnixSecondsConverter : JsonConverter<DateTimeOffset?>
{
    public override bool HandleNull => true;

    public override DateTimeOffset? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType switch
        {
            JsonTokenType.Null => null,
            JsonTokenType.Number when reader.TryGetInt64(out var seconds) => DateTimeOffset.FromUnixTimeSeconds(seconds),
            _ => throw new JsonException("expected Unix seconds (an integer) or null"),
        };

    public override void Write(Utf8JsonWriter writer, DateTimeOffset? value, JsonSerializerOptions options)
    {
        if (value is { } v)
        {
            writer.WriteNumberValue(v.ToUnixTimeSeconds());
        }
        else
        {
            writer.WriteNullValue();
        }
    }
}

/// <summary>An expandable field: Stripe sends the id string, or the expanded object (its <c>id</c> is read); null stays null.</summary>
public sealed class ExpandableIdConverter : JsonConverter<string?>
{
    public override bool HandleNull => true;

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.String:
                return reader.GetString();
            case JsonTokenType.StartObject:
                using (var doc = JsonDocument.ParseValue(ref reader))
                {
                    return doc.RootElement.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;
                }

            default:
                throw new JsonException("expected an id string, an expanded object or null");
        }
    }

    public override void Write(Utf8JsonWriter writer, string? value, JsonSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            writer.WriteStringValue(value);
        }
    }
}
