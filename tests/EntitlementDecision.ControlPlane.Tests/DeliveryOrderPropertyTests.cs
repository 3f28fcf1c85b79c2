using EntitlementDecision.Stripe;
using EntitlementDecision.Stripe.Api;
using FsCheck;
using FsCheck.Fluent;
using EntitlementDecision.ControlPlane.Subscriptions;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>
/// Property: whatever order Stripe delivers a subscription's event history in, with duplicates, the entitlement row ends in the
/// state of Stripe's latest subscription object. History (9 events; with re-reading, as Stripe sends them, several in the same
/// second, so the orders include ties; payload-only on distinct seconds): checkout (session
/// completed, subscription created, invoice paid), a failed payment (invoice.payment_failed, updated past_due), payment
/// (invoice.paid, updated active), an upgrade to the business price (updated), then one of: cancel at period end, delete,
/// unpaid, paused. A fresh tenant per case.
/// </summary>
public static class DeliveryOrderProperty
{
    public const int HistoryLength = 9;

    public sealed record Plan(int FinalStep, int[] Order)
    {
        public override string ToString() => $"final={FinalStep} order=[{string.Join(",", Order)}]";
    }

    public static Arbitrary<Plan> Plans()
    {
        var gen =
            from final in Gen.Choose(0, 3)
            from duplicates in Gen.ArrayOf(Gen.Choose(0, HistoryLength - 1))
            from order in Gen.Shuffle(Enumerable.Range(0, HistoryLength).Concat(duplicates.Take(5)).ToArray())
            select new Plan(final, order);
        return Arb.From(gen);
    }

    public static void Check(StripeWorld world, int cases)
    {
        var property = Prop.ForAll(Plans(), plan => Task.Run(() => CaseAsync(world, plan)).GetAwaiter().GetResult());
        property.Check(Config.QuickThrowOnFailure.WithMaxTest(cases));
    }

    private static async Task CaseAsync(StripeWorld world, Plan plan)
    {
        var ct = CancellationToken.None;
        var state = world.Stripe.State;
        var tenant = await world.Host.CreateTenantAsync();
        var (sub, history) = await world.SubscribeAsync(tenant);
        var events = new List<string>(history);
        events.AddRange((await state.FailPaymentAsync(sub, ct)).EventIds);
        events.AddRange((await state.PayAsync(sub, ct)).EventIds);
        var item = (string)world.Subscription(sub)["items"]!["data"]![0]!["id"]!;
        await world.Api.UpdateSubscriptionAsync(sub, new UpdateSubscriptionRequest(ItemId: item, PriceId: "price_1PgbusinessMonthlyDev01"), "upgrade-" + sub, ct);
        var final = plan.FinalStep switch
        {
            0 => await state.CancelAtPeriodEndAsync(sub, ct),
            1 => await state.DeleteSubscriptionAsync(sub, ct),
            2 => await state.SetStatusAsync(sub, "unpaid", ct),
            _ => await state.SetStatusAsync(sub, "paused", ct),
        };
        // The upgrade's event is the one emitted between the payment and the final step.
        var upgrade = FindUpgradeEvent(world, sub, events, final.EventIds);
        events.Add(upgrade);
        events.AddRange(final.EventIds);
        Assert.Equal(HistoryLength, events.Count);
        var seconds = events.Select(e => (long)state.Find(e)!["created"]!).Distinct().Count();
        Assert.True(world.StripeOptions.DistinctEventSeconds ? seconds == HistoryLength : seconds == 1, $"{seconds} distinct created values");

        await world.DeliverAsync(plan.Order.Select(i => events[i]));

        var row = await world.RowAsync(tenant);
        var stripe = world.Subscription(sub);
        var status = (string)stripe["status"]!;
        var periodEnd = DateTimeOffset.FromUnixTimeSeconds((long)stripe["items"]!["data"]![0]!["current_period_end"]!);
        Assert.Equal(
            (status, "business", (bool)stripe["cancel_at_period_end"]!, periodEnd, sub, SubscriptionSync.InDunning(status)),
            (row.StripeStatus, row.PlanId, row.CancelAtPeriodEnd, row.CurrentPeriodEnd, row.StripeSubscriptionId, row.DunningStartedAt is not null));
    }

    /// <summary>The customer.subscription.updated event of the price change: emitted by the API update, so not in a scenario result.</summary>
    private static string FindUpgradeEvent(StripeWorld world, string sub, List<string> before, IReadOnlyList<string> after)
    {
        // Not by time: its created may equal its neighbours'. It is the one update of this subscription in neither list.
        var events = world.EventsAsync("customer.subscription.updated").GetAwaiter().GetResult();
        return events.Single(e => ((global::Stripe.Subscription)e.Data.Object).Id == sub && !before.Contains(e.Id) && !after.Contains(e.Id)).Id;
    }
}

/// <summary>A world whose fake Stripe clock stands still: every event of a case has the same <c>created</c>.</summary>
public sealed class SameSecondWorld : StripeWorld
{
    public SameSecondWorld() => StripeOptions.TimeProvider = new FakeTimeProvider(DateTimeOffset.UtcNow);
}

public sealed class DeliveryOrderRereadTests(SameSecondWorld world) : IClassFixture<SameSecondWorld>
{
    [Fact]
    public void AnyDeliveryOrderWithDuplicates_EndsInStripesLatestState_WhenReReading() => DeliveryOrderProperty.Check(world, 30);
}

public sealed class DeliveryOrderPayloadTests(PayloadOnlyWorld world) : IClassFixture<PayloadOnlyWorld>
{
    [Fact]
    public void AnyDeliveryOrderWithDuplicates_EndsInStripesLatestState_FromPayloadsAlone() => DeliveryOrderProperty.Check(world, 30);
}
