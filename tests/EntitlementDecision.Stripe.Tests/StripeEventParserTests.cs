using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace EntitlementDecision.Stripe.Tests;

public sealed class StripeEventParserTests
{
    [Fact]
    public void FixtureEventAsPublished_ParsesEnvelope()
    {
        var body = Encoding.UTF8.GetBytes(StripeEventBuilder.LoadFixture("event").ToJsonString());

        var e = StripeEventParser.Parse(body);

        Assert.Equal("evt_1Pgc76B7WZ01zgkWwyRHS12y", e.Id);
        Assert.Equal("plan.created", e.Type);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_234_567_890), e.Created);
        Assert.False(e.Livemode);
        Assert.Null(e.ApiVersion);
        Assert.Equal("plan", e.DataObject.GetProperty("object").GetString());
        Assert.Equal("price_1PgafmB7WZ01zgkW6dKueIc5", e.DataObject.GetProperty("id").GetString());
    }

    [Fact]
    public void BuiltSubscriptionEvent_ParsesTypeApiVersionLivemodeAndDataObject()
    {
        var body = StripeEventBuilder.Subscription(StripeSubscriptionEvents.SubscriptionDeleted)
            .WithEventId("evt_test_deleted")
            .WithCreated(DateTimeOffset.FromUnixTimeSeconds(1_750_000_123))
            .WithApiVersion("2025-03-31.basil")
            .WithLivemode(true)
            .ToUtf8Bytes();

        var e = StripeEventParser.Parse(body);

        Assert.Equal("evt_test_deleted", e.Id);
        Assert.Equal("customer.subscription.deleted", e.Type);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_750_000_123), e.Created);
        Assert.True(e.Livemode);
        Assert.Equal("2025-03-31.basil", e.ApiVersion);
        Assert.Equal(JsonValueKind.Object, e.DataObject.ValueKind);
        Assert.Equal("sub_1Pgc6rB7WZ01zgkWNy0Cn5nw", e.DataObject.GetProperty("id").GetString());
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"id\":\"evt_1\",")]
    [InlineData("")]
    [InlineData("\u00ff\u00fe")]
    public void GarbageJson_ThrowsStripeEventFormatException(string body)
    {
        var ex = Assert.Throws<StripeEventFormatException>(() => StripeEventParser.Parse(Encoding.UTF8.GetBytes(body)));

        Assert.Null(ex.Field);
        Assert.IsAssignableFrom<JsonException>(ex.InnerException);
        Assert.Contains("not valid JSON", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("\"evt\"")]
    [InlineData("null")]
    [InlineData("42")]
    public void NonObjectJson_ThrowsStripeEventFormatException(string body)
    {
        var ex = Assert.Throws<StripeEventFormatException>(() => StripeEventParser.Parse(Encoding.UTF8.GetBytes(body)));

        Assert.Null(ex.Field);
        Assert.Contains("JSON object", ex.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string> BrokenEnvelopes() => new()
    {
        // JSON path to change, replacement ("<remove>" deletes it), field expected in the exception
        { "id", "<remove>", "id" },
        { "id", "42", "id" },
        { "id", "\"\"", "id" },
        { "type", "<remove>", "type" },
        { "type", "null", "type" },
        { "created", "<remove>", "created" },
        { "created", "\"1234567890\"", "created" },
        { "created", "1.5", "created" },
        { "created", "-1", "created" },
        { "created", "99999999999999", "created" },
        { "livemode", "\"false\"", "livemode" },
        { "api_version", "20250331", "api_version" },
        { "object", "\"subscription\"", "object" },
        { "data", "<remove>", "data" },
        { "data", "[]", "data" },
        { "data.object", "<remove>", "data.object" },
        { "data.object", "null", "data.object" },
        { "data.object", "[{}]", "data.object" },
        { "data.object", "\"sub_123\"", "data.object" },
    };

    [Theory]
    [MemberData(nameof(BrokenEnvelopes))]
    public void BrokenEnvelopeField_ThrowsNamingTheField(string path, string replacement, string expectedField)
    {
        var envelope = StripeEventBuilder.Subscription().WithMetadata("tenant_id", "t1").Build();
        var parts = path.Split('.');
        var parent = parts.Length == 2 ? envelope[parts[0]]!.AsObject() : envelope;
        if (replacement == "<remove>")
        {
            parent.Remove(parts[^1]);
        }
        else
        {
            parent[parts[^1]] = JsonNode.Parse(replacement);
        }

        var ex = Assert.Throws<StripeEventFormatException>(() => StripeEventParser.Parse(Encoding.UTF8.GetBytes(envelope.ToJsonString())));

        Assert.Equal(expectedField, ex.Field);
        Assert.Contains($"'{expectedField}'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OptionalEnvelopeFieldsAbsent_DefaultToFalseAndNull()
    {
        var body = """{"id":"evt_min","type":"customer.subscription.updated","created":1750000000,"data":{"object":{"object":"subscription"}}}"""u8;

        var e = StripeEventParser.Parse(body);

        Assert.False(e.Livemode);
        Assert.Null(e.ApiVersion);
    }

    [Fact]
    public void DataObject_OutlivesTheParsedBuffer()
    {
        var body = StripeEventBuilder.Subscription().WithStatus("trialing").ToUtf8Bytes();

        var e = StripeEventParser.Parse(body);
        Array.Clear(body);

        Assert.Equal("trialing", e.DataObject.GetProperty("status").GetString());
    }

    [Fact]
    public void DeeplyNestedJson_ThrowsStripeEventFormatException()
    {
        var body = Encoding.UTF8.GetBytes(new string('[', 10_000) + new string(']', 10_000));

        Assert.Throws<StripeEventFormatException>(() => StripeEventParser.Parse(body));
    }
}
