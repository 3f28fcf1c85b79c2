using System.Text.Json.Nodes;

namespace EntitlementDecision.Stripe.Tests;

public sealed class StripeInvoiceEventsTests
{
    private const string FixtureInvoiceId = "in_1Pgc6tB7WZ01zgkWu9fdqL6I";
    private const string FixtureCustomerId = "cus_QXg1o8vcGmoR32";

    private static StripeEventBuilder Invoice(string type, Action<JsonObject> edit)
    {
        var invoice = StripeEventBuilder.LoadFixture("invoice");
        edit(invoice);
        return StripeEventBuilder.Create(type, invoice);
    }

    private static (InvoiceUpdate? Update, string? Error) Read(StripeEventBuilder builder) =>
        StripeInvoiceEvents.ReadInvoice(StripeWebhookEvents.Parse(builder.ToUtf8Bytes()));

    [Fact]
    public void CurrentApiShape_ReadsSubscriptionAndTenantFromParentSubscriptionDetails()
    {
        var (update, error) = Read(Invoice(StripeInvoiceEvents.PaymentFailed, i =>
        {
            i["attempt_count"] = 2;
            i["next_payment_attempt"] = 1_900_000_000;
            i["parent"] = new JsonObject
            {
                ["type"] = "subscription_details",
                ["quote_details"] = null,
                ["subscription_details"] = new JsonObject { ["subscription"] = "sub_42", ["metadata"] = new JsonObject { ["tenant_id"] = "acme", ["environment"] = "staging" } },
            };
        }).WithCreated(DateTimeOffset.FromUnixTimeSeconds(1_800_000_000)));

        Assert.Null(error);
        Assert.Equal(
            (FixtureInvoiceId, "sub_42", FixtureCustomerId, "acme", "staging", 2, DateTimeOffset.FromUnixTimeSeconds(1_900_000_000), StripeInvoiceEvents.PaymentFailed, DateTimeOffset.FromUnixTimeSeconds(1_800_000_000)),
            (update!.InvoiceId, update.SubscriptionId, update.CustomerId, update.TenantId, update.Environment, update.AttemptCount, update.NextPaymentAttempt, update.EventType, update.EventCreated));
    }

    [Fact]
    public void OlderApiShape_ReadsTopLevelSubscriptionAndSubscriptionDetailsMetadata()
    {
        var (update, error) = Read(Invoice(StripeInvoiceEvents.Paid, i =>
        {
            i["parent"] = null;
            i["subscription"] = "sub_old_shape";
            i["subscription_details"] = new JsonObject { ["metadata"] = new JsonObject { ["tenant_id"] = "acme" } };
        }));

        Assert.Null(error);
        Assert.Equal(("sub_old_shape", "acme", (string?)null), (update!.SubscriptionId, update.TenantId, update.Environment));
    }

    [Fact]
    public void FixtureWithoutTenant_LeavesTenantToTheCaller()
    {
        // The published fixture: a quote's invoice, no subscription metadata, empty metadata.
        var (update, error) = Read(Invoice(StripeInvoiceEvents.Paid, _ => { }));
        Assert.Null(error);
        Assert.Equal(((string?)null, FixtureCustomerId, 0), (update!.TenantId, update.CustomerId, update.AttemptCount));
    }

    [Theory]
    [InlineData("object", "\"subscription\"", "data.object is a 'subscription', expected 'invoice'")]
    [InlineData("id", "null", "id missing")]
    public void IllTypedFields_AreNamed(string field, string json, string expected)
    {
        var (update, error) = Read(Invoice(StripeInvoiceEvents.PaymentFailed, i => i[field] = JsonNode.Parse(json)));
        Assert.Null(update);
        Assert.Equal(expected, error);
    }

    [Theory]
    [InlineData("attempt_count", "\"two\"")]
    [InlineData("next_payment_attempt", "\"soon\"")]
    public void IllTypedFields_AreRejectedWhenParsed(string field, string json)
    {
        var body = Invoice(StripeInvoiceEvents.PaymentFailed, i => i[field] = JsonNode.Parse(json)).ToUtf8Bytes();
        Assert.Throws<StripeEventFormatException>(() => StripeWebhookEvents.Parse(body));
    }

    [Fact]
    public void OtherEventType_IsNotAnInvoiceEvent()
    {
        var (_, error) = Read(Invoice("invoice.created", _ => { }));
        Assert.Equal("event type 'invoice.created' is not an invoice event", error);
    }

    [Fact]
    public void TrialWillEnd_ReadsTheSubscriptionAndTrialEnd()
    {
        var builder = StripeEventBuilder.Subscription(StripeInvoiceEvents.TrialWillEnd).WithStatus("trialing").WithMetadata("tenant_id", "acme");
        builder.Object["trial_end"] = 1_950_000_000;
        var (trial, error) = StripeInvoiceEvents.ReadTrialWillEnd(StripeWebhookEvents.Parse(builder.ToUtf8Bytes()));
        Assert.Null(error);
        Assert.Equal(("acme", "trialing", StripeInvoiceEvents.TrialWillEnd, DateTimeOffset.FromUnixTimeSeconds(1_950_000_000)),
            (trial!.Subscription.TenantId, trial.Subscription.Status, trial.Subscription.EventType, trial.TrialEnd));

        var (_, missing) = StripeInvoiceEvents.ReadTrialWillEnd(StripeWebhookEvents.Parse(StripeEventBuilder.Subscription(StripeInvoiceEvents.TrialWillEnd).ToUtf8Bytes()));
        Assert.Equal("metadata.tenant_id missing", missing);
    }
}
