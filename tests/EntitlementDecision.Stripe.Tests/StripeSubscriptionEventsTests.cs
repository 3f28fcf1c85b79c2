using System.Text.Json.Nodes;

namespace EntitlementDecision.Stripe.Tests;

public sealed class StripeSubscriptionEventsTests
{
    // Values of the published fixtures in testdata/stripe.
    private const string FixtureSubscriptionId = "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw";
    private const string FixtureCustomerId = "cus_QXg1o8vcGmoR32";
    private const string FixturePriceId = "price_1PgafmB7WZ01zgkW6dKueIc5";
    private const string FixtureEventId = "evt_1Pgc76B7WZ01zgkWwyRHS12y";
    private static readonly DateTimeOffset FixtureItemPeriodEnd = DateTimeOffset.FromUnixTimeSeconds(976_287_773);
    private static readonly DateTimeOffset FixtureItemPeriodStart = DateTimeOffset.FromUnixTimeSeconds(1_896_570_518);
    private static readonly DateTimeOffset FixtureCanceledAt = DateTimeOffset.FromUnixTimeSeconds(1_234_567_890);
    private static readonly DateTimeOffset FixtureEventCreated = DateTimeOffset.FromUnixTimeSeconds(1_234_567_890);

    private static SubscriptionUpdateResult Read(StripeEventBuilder builder) =>
        StripeSubscriptionEvents.Read(StripeWebhookEvents.Parse(builder.ToUtf8Bytes()));

    private static SubscriptionUpdate ReadOk(StripeEventBuilder builder)
    {
        var result = Read(builder);
        Assert.True(result.Succeeded, result.Error);
        Assert.Null(result.Error);
        return result.Update;
    }

    [Fact]
    public void HandledTypes_AreExactlyTheFourSubscriptionEvents()
    {
        Assert.Equal(
            ["checkout.session.completed", "customer.subscription.created", "customer.subscription.deleted", "customer.subscription.updated"],
            StripeSubscriptionEvents.HandledTypes.Order(StringComparer.Ordinal));
        Assert.DoesNotContain("invoice.paid", StripeSubscriptionEvents.HandledTypes);
    }

    [Theory]
    [InlineData("customer.subscription.created", "incomplete")]
    [InlineData("customer.subscription.updated", "past_due")]
    [InlineData("customer.subscription.deleted", "canceled")]
    public void SubscriptionEvent_FromFixture_YieldsUpdate(string type, string status)
    {
        var update = ReadOk(StripeEventBuilder.Subscription(type)
            .WithMetadata("tenant_id", "tenant-7")
            .WithStatus(status));

        Assert.Equal(
            new SubscriptionUpdate(
                TenantId: "tenant-7",
                Environment: "production",
                SubscriptionId: FixtureSubscriptionId,
                CustomerId: FixtureCustomerId,
                Status: status,
                PriceIds: update.PriceIds,
                PlanIdFromMetadata: null,
                CurrentPeriodEnd: FixtureItemPeriodEnd, // the fixture has it only on the item
                CancelAtPeriodEnd: true,
                CanceledAt: FixtureCanceledAt,
                EventId: FixtureEventId,
                EventType: type,
                EventCreated: FixtureEventCreated) { CurrentPeriodStart = FixtureItemPeriodStart }, // the item's, like its end
            update);
        Assert.Equal([FixturePriceId], update.PriceIds);
    }

    [Fact]
    public void SubscriptionMetadata_EnvironmentAndPlanId_AreRead()
    {
        var update = ReadOk(StripeEventBuilder.Subscription()
            .WithMetadata("tenant_id", "tenant-8")
            .WithMetadata("environment", "staging")
            .WithMetadata("plan_id", "pro"));

        Assert.Equal("staging", update.Environment);
        Assert.Equal("pro", update.PlanIdFromMetadata);
    }

    [Fact]
    public void SubscriptionWithTopLevelPeriodEnd_PrefersIt()
    {
        var top = DateTimeOffset.FromUnixTimeSeconds(1_760_000_000);

        var update = ReadOk(StripeEventBuilder.Subscription()
            .WithMetadata("tenant_id", "t")
            .WithCurrentPeriodEnd(top));

        Assert.Equal(top, update.CurrentPeriodEnd);
    }

    [Fact]
    public void SeveralItems_PriceIdsInOrderAndEarliestItemPeriodEnd()
    {
        var update = ReadOk(StripeEventBuilder.Subscription()
            .WithMetadata("tenant_id", "t")
            .WithPriceIds("price_base", "price_seats", "price_base")
            .WithItemCurrentPeriodEnd(0, DateTimeOffset.FromUnixTimeSeconds(1_790_000_000))
            .WithItemCurrentPeriodEnd(1, DateTimeOffset.FromUnixTimeSeconds(1_760_000_000))
            .WithItemCurrentPeriodEnd(2, DateTimeOffset.FromUnixTimeSeconds(1_780_000_000)));

        Assert.Equal(["price_base", "price_seats"], update.PriceIds);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_760_000_000), update.CurrentPeriodEnd);
    }

    [Fact]
    public void NoPeriodEndAnywhere_CurrentPeriodEndNull()
    {
        var builder = StripeEventBuilder.Subscription().WithMetadata("tenant_id", "t");
        builder.Object["items"]!["data"]![0]!.AsObject().Remove("current_period_end");

        Assert.Null(ReadOk(builder).CurrentPeriodEnd);
    }

    [Fact]
    public void ExpandedCustomer_IsReadAsItsId()
    {
        var builder = StripeEventBuilder.Subscription().WithMetadata("tenant_id", "t")
            .Set("customer", StripeEventBuilder.LoadFixture("customer"));

        var update = ReadOk(builder);

        Assert.Equal(FixtureCustomerId, update.CustomerId);
        Assert.Equal(["price_1PgafmB7WZ01zgkW6dKueIc5"], update.PriceIds);
    }

    [Fact]
    public void ActiveNotCancelling_FlagsFalseAndCanceledAtNull()
    {
        var update = ReadOk(StripeEventBuilder.Subscription()
            .WithMetadata("tenant_id", "t")
            .WithStatus("active")
            .WithCancelAtPeriodEnd(false)
            .WithCanceledAt(null));

        Assert.Equal("active", update.Status);
        Assert.False(update.CancelAtPeriodEnd);
        Assert.Null(update.CanceledAt);
    }

    [Fact]
    public void UnknownFutureStatus_PassedThroughAsIs()
    {
        Assert.Equal("some_new_status", ReadOk(StripeEventBuilder.Subscription().WithMetadata("tenant_id", "t").WithStatus("some_new_status")).Status);
    }

    [Fact]
    public void FixtureSubscriptionWithoutTenantMetadata_ReturnsError()
    {
        var result = Read(StripeEventBuilder.Subscription());

        Assert.False(result.Succeeded);
        Assert.Null(result.Update);
        Assert.Equal("metadata.tenant_id missing", result.Error);
    }

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    public void EmptyOrNullMetadata_ReturnsTenantError(string? tenant)
    {
        var builder = StripeEventBuilder.Subscription().WithMetadata("tenant_id", tenant);
        if (tenant is null)
        {
            builder.Set("metadata", null);
        }

        Assert.Equal("metadata.tenant_id missing", Read(builder).Error);
    }

    [Fact]
    public void SubscriptionClientReferenceIdIsNotATenantFallback()
    {
        // client_reference_id exists only on checkout sessions; a subscription must carry metadata.tenant_id.
        Assert.Equal("metadata.tenant_id missing", Read(StripeEventBuilder.Subscription().Set("client_reference_id", "tenant-x")).Error);
    }

    [Theory]
    [InlineData("status", "status missing")]
    [InlineData("id", "id missing")]
    public void SubscriptionWithoutRequiredField_ReturnsError(string field, string error)
    {
        Assert.Equal(error, Read(StripeEventBuilder.Subscription().WithMetadata("tenant_id", "t").Without(field)).Error);
    }

    [Fact]
    public void IllTypedLegacyPeriodEnd_IsIgnored_InFavourOfTheItems()
    {
        // current_period_end left the subscription in API 2025-03-31: Stripe.net no longer models it, we read it only when it is Unix seconds.
        var update = ReadOk(StripeEventBuilder.Subscription().WithMetadata("tenant_id", "t").Set("current_period_end", "soon"));

        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(976287773), update.CurrentPeriodEnd);
    }

    [Fact]
    public void SubscriptionEventCarryingAnotherObject_ReturnsError()
    {
        var result = Read(StripeEventBuilder.Create(StripeSubscriptionEvents.SubscriptionUpdated, StripeEventBuilder.LoadFixture("invoice")));

        Assert.Equal("data.object is a 'invoice', expected 'subscription'", result.Error);
    }

    [Fact]
    public void UnhandledType_ReturnsError()
    {
        var result = Read(StripeEventBuilder.Create("invoice.paid", StripeEventBuilder.LoadFixture("invoice")));

        Assert.Equal("event type 'invoice.paid' is not handled", result.Error);
    }

    [Fact]
    public void CheckoutSessionCompleted_TenantFromMetadata_YieldsUpdate()
    {
        var update = ReadOk(StripeEventBuilder.CheckoutSessionCompleted()
            .WithEventId("evt_checkout_1")
            .WithMetadata("tenant_id", "tenant-9")
            .WithMetadata("plan_id", "team")
            .WithClientReferenceId("ignored-when-metadata-present"));

        Assert.Equal(
            new SubscriptionUpdate(
                TenantId: "tenant-9",
                Environment: "production",
                SubscriptionId: FixtureSubscriptionId,
                CustomerId: FixtureCustomerId,
                Status: null,
                PriceIds: update.PriceIds,
                PlanIdFromMetadata: "team",
                CurrentPeriodEnd: null,
                CancelAtPeriodEnd: false,
                CanceledAt: null,
                EventId: "evt_checkout_1",
                EventType: "checkout.session.completed",
                EventCreated: FixtureEventCreated),
            update);
        Assert.Empty(update.PriceIds);
    }

    [Fact]
    public void CheckoutSessionCompleted_NoMetadata_FallsBackToClientReferenceId()
    {
        var update = ReadOk(StripeEventBuilder.CheckoutSessionCompleted().WithClientReferenceId("tenant-from-ref"));

        Assert.Equal("tenant-from-ref", update.TenantId);
    }

    [Fact]
    public void CheckoutSessionCompleted_ExpandedSubscriptionAndCustomer_ReadsIds()
    {
        var update = ReadOk(StripeEventBuilder.CheckoutSessionCompleted()
            .WithMetadata("tenant_id", "t")
            .Set("subscription", StripeEventBuilder.LoadFixture("subscription"))
            .Set("customer", StripeEventBuilder.LoadFixture("customer")));

        Assert.Equal(FixtureSubscriptionId, update.SubscriptionId);
        Assert.Equal(FixtureCustomerId, update.CustomerId);
    }

    [Fact]
    public void CheckoutSessionCompleted_NoTenantAnywhere_ReturnsError()
    {
        var result = Read(StripeEventBuilder.CheckoutSessionCompleted());

        Assert.Equal("metadata.tenant_id and client_reference_id missing", result.Error);
    }

    [Fact]
    public void CheckoutSessionInPaymentModeAsPublished_YieldsUpdateWithoutSubscription()
    {
        var session = StripeEventBuilder.LoadFixture("checkout.session"); // mode payment, subscription null
        session["client_reference_id"] = "tenant-pay";

        var update = ReadOk(StripeEventBuilder.Create(StripeSubscriptionEvents.CheckoutSessionCompleted, session));

        Assert.Null(update.SubscriptionId);
        Assert.Null(update.CustomerId);
    }

    [Fact]
    public void CheckoutTypeCarryingSubscriptionObject_ReturnsError()
    {
        var result = Read(StripeEventBuilder.Create(StripeSubscriptionEvents.CheckoutSessionCompleted, StripeEventBuilder.LoadFixture("subscription")));

        Assert.Equal("data.object is a 'subscription', expected 'checkout.session'", result.Error);
    }

    [Fact]
    public void MetadataNotAnObject_IsRejectedWhenParsed()
    {
        Assert.Throws<StripeEventFormatException>(() => StripeWebhookEvents.Parse(StripeEventBuilder.Subscription().Set("metadata", new JsonArray()).ToUtf8Bytes()));
    }

    [Fact]
    public void Read_NullEvent_Throws()
    {
        Assert.Throws<ArgumentNullException>(() => StripeSubscriptionEvents.Read(null!));
    }
}
