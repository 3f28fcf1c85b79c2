using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Stripe;

namespace EntitlementDecision.Stripe.Tests;

public sealed class StripeWebhookEventsTests
{
    [Fact]
    public void FixtureEventAsPublished_ParsesEnvelope()
    {
        var body = Encoding.UTF8.GetBytes(StripeEventBuilder.LoadFixture("event").ToJsonString());

        var e = StripeWebhookEvents.Parse(body);

        Assert.Equal("evt_1Pgc76B7WZ01zgkWwyRHS12y", e.Id);
        Assert.Equal("plan.created", e.Type);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_234_567_890), e.CreatedAt());
        Assert.False(e.Livemode);
        Assert.Null(e.ApiVersion);
        Assert.Equal("plan", e.DataObjectKind());
        Assert.Equal("price_1PgafmB7WZ01zgkW6dKueIc5", Assert.IsType<Plan>(e.Data.Object).Id);
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

        var e = StripeWebhookEvents.Parse(body);

        Assert.Equal("evt_test_deleted", e.Id);
        Assert.Equal("customer.subscription.deleted", e.Type);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_750_000_123), e.CreatedAt());
        Assert.True(e.Livemode);
        Assert.Equal("2025-03-31.basil", e.ApiVersion); // another API version than Stripe.net's is accepted
        Assert.Equal("sub_1Pgc6rB7WZ01zgkWNy0Cn5nw", Assert.IsType<Subscription>(e.Data.Object).Id);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"id\":\"evt_1\",")]
    [InlineData("")]
    [InlineData("\u00ff\u00fe")]
    public void GarbageJson_ThrowsStripeEventFormatException(string body)
    {
        var ex = Assert.Throws<StripeEventFormatException>(() => StripeWebhookEvents.Parse(Encoding.UTF8.GetBytes(body)));

        Assert.Null(ex.Field);
        Assert.NotNull(ex.InnerException);
        Assert.Contains("not a JSON object of a Stripe event", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("\"evt\"")]
    [InlineData("null")]
    [InlineData("42")]
    public void NonObjectJson_ThrowsStripeEventFormatException(string body)
    {
        var ex = Assert.Throws<StripeEventFormatException>(() => StripeWebhookEvents.Parse(Encoding.UTF8.GetBytes(body)));

        Assert.Null(ex.Field);
        Assert.Contains("not a JSON object of a Stripe event", ex.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string?> BrokenEnvelopes() => new()
    {
        // JSON path to change, replacement ("<remove>" deletes it), field named by the exception (null: Stripe.net's
        // deserializer refused the value and says so in the message, without a path)
        { "id", "<remove>", "id" },
        { "id", "\"\"", "id" },
        { "type", "<remove>", "type" },
        { "type", "null", "type" },
        { "created", "<remove>", "created" },
        { "object", "\"subscription\"", "object" },
        { "data", "<remove>", "data.object" },
        { "data.object", "<remove>", "data.object" },
        { "data.object", "null", "data.object" },
        { "id", "42", null },
        { "created", "1.5", null },
        { "livemode", "\"false\"", null },
        { "api_version", "20250331", null },
        { "data", "[]", null },
        { "data.object", "[{}]", null },
        { "data.object", "\"sub_123\"", null },
    };

    [Theory]
    [MemberData(nameof(BrokenEnvelopes))]
    public void BrokenEnvelopeField_Throws_NamingTheFieldWhenMissing(string path, string replacement, string? expectedField)
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

        var ex = Assert.Throws<StripeEventFormatException>(() => StripeWebhookEvents.Parse(Encoding.UTF8.GetBytes(envelope.ToJsonString())));

        Assert.Equal(expectedField, ex.Field);
        Assert.Contains(expectedField is null ? "not a JSON object of a Stripe event" : $"'{expectedField}'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OptionalEnvelopeFieldsAbsent_DefaultToFalseAndNull()
    {
        var body = """{"id":"evt_min","type":"customer.subscription.updated","created":1750000000,"data":{"object":{"object":"subscription"}}}"""u8;

        var e = StripeWebhookEvents.Parse(body);

        Assert.False(e.Livemode);
        Assert.Null(e.ApiVersion);
    }

    [Fact]
    public void DataObject_OutlivesTheParsedBuffer()
    {
        var body = StripeEventBuilder.Subscription().WithStatus("trialing").ToUtf8Bytes();

        var e = StripeWebhookEvents.Parse(body);
        Array.Clear(body);

        Assert.Equal("trialing", Assert.IsType<Subscription>(e.Data.Object).Status);
    }

    [Fact]
    public void DeeplyNestedJson_ThrowsStripeEventFormatException()
    {
        var body = Encoding.UTF8.GetBytes(new string('[', 10_000) + new string(']', 10_000));

        Assert.Throws<StripeEventFormatException>(() => StripeWebhookEvents.Parse(body));
    }
}
