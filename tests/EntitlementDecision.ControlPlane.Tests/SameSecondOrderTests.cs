using System.Net;
using EntitlementDecision.ControlPlane.Subscriptions;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>Payload mode (ED_WEBHOOK_REREAD=off, this world's set-up) with our changes and Stripe's events in one second.</summary>
public sealed class SameSecondPayloadWorld : SelfServiceWorld
{
    public SameSecondPayloadWorld()
    {
        Overrides["ED_WEBHOOK_REREAD"] = "off";
        // One instant, 600 ms into its second, shared by the control plane and the fake Stripe API: our own API changes are
        // stamped X.600 while Stripe stamps its events X (timers and delays still run on the system's).
        var clock = ShiftedClock.StandingInThisSecond(600);
        StripeOptions.TimeProvider = clock;
        HostTime = clock;
    }
}

/// <summary>Issue 21's lost cancellation, through the real endpoints, processor and database.</summary>
public sealed class SameSecondOrderTests(SameSecondPayloadWorld world) : SelfServiceTestBase(world), IClassFixture<SameSecondPayloadWorld>
{
    [Fact]
    public async Task StripesDeletion_InTheSecondOfOurUpgradeAndCancel_EndsTheSubscription_FromPayloads()
    {
        var (tenant, sub) = await SubscribedTenantAsync("pro");
        var seen = (await World.EventsAsync("customer.subscription.updated", Ct)).Select(e => e.Id).ToHashSet();
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/billing/subscription/change", Owner(tenant), new { plan_id = "business" })).Response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/billing/subscription/cancel", Owner(tenant), new { })).Response.StatusCode);
        var ours = await World.RowAsync(tenant);
        Assert.True(ours.CancelAtPeriodEnd);
        Assert.Equal(SubscriptionOrder.Second(ours.LastStripeReadAt!.Value).AddMilliseconds(600), ours.LastStripeReadAt);

        var deleted = await World.Stripe.State.DeleteSubscriptionAsync(sub, Ct);
        // Stripe's events of our two changes (oldest first), then its deletion: all stamped the second of our changes.
        var echoes = (await World.EventsAsync("customer.subscription.updated", Ct))
            .Where(e => ((global::Stripe.Subscription)e.Data.Object).Id == sub && !seen.Contains(e.Id)).Select(e => e.Id).Reverse().ToList();
        Assert.Equal(2, echoes.Count);
        var outcomes = await World.DeliverAsync(echoes.Concat(deleted.EventIds));

        Assert.Equal("applied", outcomes[^1]);
        var row = await World.RowAsync(tenant);
        Assert.Equal(("canceled", false), (row.StripeStatus, row.LastStripeEventCreated < SubscriptionOrder.Second(ours.LastStripeReadAt!.Value)));
        var (entitlement, json) = await SendAsync(HttpMethod.Get, "/billing/entitlements", Owner(tenant));
        Assert.Equal(HttpStatusCode.OK, entitlement.StatusCode);
        Assert.Equal("free", (string)json!["plan_id"]!);
    }
}
