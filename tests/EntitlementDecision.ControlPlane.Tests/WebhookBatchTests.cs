using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.Stripe;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>One webhook worker, so events that become due together are taken in one batch (ED_WEBHOOK_BATCH_SIZE 32).</summary>
public sealed class SingleWorkerWorld : StripeWorld
{
    public SingleWorkerWorld()
    {
        Overrides["ED_WEBHOOK_REREAD"] = "off"; // payloads applied: batches of more than one event
        Overrides["ED_WEBHOOK_WORKERS"] = "1";
        Overrides["ED_WEBHOOK_BATCH_SIZE"] = "32";
    }
}

/// <summary>
/// The batch path of the webhook processor on the real database: events of several tenants stored in one statement and due at
/// the same moment, so the single worker takes them together.
/// </summary>
public sealed class WebhookBatchTests(SingleWorkerWorld world) : IClassFixture<SingleWorkerWorld>
{
    private const string BusinessPrice = "price_1PgbusinessMonthlyDev01";
    private static readonly DateTimeOffset T0 = DateTimeOffset.UtcNow.AddMinutes(-30);
    private ControlPlaneFixture Fx => world.Host;

    [Fact]
    public async Task OneEventThrowing_OthersOfTheBatchApplied_TheFailingOneRetriedWithItsError()
    {
        var tenants = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            tenants.Add(await Fx.CreateTenantAsync());
        }

        var refusing = await Fx.CreateTenantAsync();
        // A real database error for one tenant only: its entitlement row refuses updates (the apply's save fails).
        var name = "refuse_" + refusing.Replace('-', '_');
        var trigger = $"""
            CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS
            $$BEGIN RAISE EXCEPTION 'test: entitlement of {refusing} refuses updates'; END$$;
            CREATE TRIGGER {name} BEFORE UPDATE ON entitlements FOR EACH ROW
            WHEN (NEW.tenant_id = '{refusing}') EXECUTE FUNCTION {name}();
            """;
        await Fx.DbAsync(db => db.Database.ExecuteSqlRawAsync(trigger, TestContext.Current.CancellationToken));

        var ids = await StoreDueTogetherAsync(tenants.Append(refusing).Select((t, i) => (t, ControlPlaneFixture.SubscriptionEvent(
            StripeSubscriptionEvents.SubscriptionUpdated, t, "active", T0.AddSeconds(i), "sub_" + t).ToJson())).ToList());

        for (var i = 0; i < tenants.Count; i++)
        {
            var row = await Fx.WaitProcessedAsync(ids[i]);
            // Applied once: the rolled-back batch attempt left nothing behind, the rerun alone counted one attempt.
            Assert.Equal((StripeEventRecord.Processed, "applied", 1, (string?)null), (row.Status, row.Outcome, row.Attempts, row.LastError));
            Assert.Equal("pro", (await Fx.EntitlementAsync(tenants[i])).PlanId);
            var audited = await Fx.DbAsync(db => db.AuditEntries.CountAsync(a => a.TenantId == tenants[i] && a.Cause == ids[i]));
            Assert.Equal(1, audited);
        }

        var failingId = ids[^1];
        var failed = await Fx.WaitProcessedAsync(failingId);
        Assert.Equal((StripeEventRecord.Failed, 8), (failed.Status, failed.Attempts));
        Assert.Contains("refuses updates", failed.LastError);
        Assert.NotEqual("pro", (await Fx.EntitlementAsync(refusing)).PlanId);
        Assert.Equal(0, await Fx.DbAsync(db => db.AuditEntries.CountAsync(a => a.TenantId == refusing && a.Cause == failingId)));
    }

    [Fact]
    public async Task EventsOfOneTenant_ShareABatch_AppliedInCreatedOrder_NoneLost()
    {
        var tenants = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            tenants.Add(await Fx.CreateTenantAsync());
        }

        // Per tenant three events, stored newest first: pro, business, pro in created order; the last (pro) must win, and each
        // must be applied (a newer one applied first would make the older ones ignored_stale).
        var stored = new List<(string Tenant, string Body)>();
        var expected = new List<(string Tenant, int Seq)>();
        foreach (var t in tenants)
        {
            for (var seq = 2; seq >= 0; seq--)
            {
                var body = ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionUpdated, t, "active", T0.AddSeconds(seq), "sub_" + t)
                    .WithPriceIds(seq == 1 ? BusinessPrice : TestServices.ProPrice).ToJson();
                stored.Add((t, body));
                expected.Add((t, seq));
            }
        }

        var ids = await StoreDueTogetherAsync(stored);
        var rows = new List<StripeEventRecord>();
        foreach (var id in ids)
        {
            rows.Add(await Fx.WaitProcessedAsync(id));
        }

        Assert.All(rows, r => Assert.Equal((StripeEventRecord.Processed, "applied", 1), (r.Status, r.Outcome, r.Attempts)));
        // A row's xmin is the transaction that processed it (nothing updates it afterwards).
        var transaction = new Dictionary<string, string>();
        foreach (var r in rows)
        {
            transaction[r.EventId] = await Fx.DbAsync(db => db.Database
                .SqlQuery<string>($"SELECT xmin::text AS \"Value\" FROM stripe_events WHERE event_id = {r.EventId}").SingleAsync());
        }

        // The four tenants' events became due together: one batch (each tenant's oldest, then its next ones), one transaction.
        Assert.Single(rows.Select(r => transaction[r.EventId]).Distinct());
        foreach (var t in tenants)
        {
            var ofTenant = rows.Where(r => r.TenantId == t).OrderBy(r => r.StripeCreated).ToList();
            Assert.Equal(3, ofTenant.Count);
            // Created order is applied order within the batch.
            Assert.True(ofTenant[0].ProcessedAt <= ofTenant[1].ProcessedAt && ofTenant[1].ProcessedAt <= ofTenant[2].ProcessedAt,
                string.Join(", ", ofTenant.Select(r => $"{r.StripeCreated:HH:mm:ss} -> {r.ProcessedAt:HH:mm:ss.ffffff}")));
            // Ends on the newest event's plan, every change audited (none -> pro -> business -> pro).
            Assert.Equal("pro", (await Fx.EntitlementAsync(t)).PlanId);
            Assert.Equal(3, await Fx.DbAsync(db => db.AuditEntries.CountAsync(a => a.TenantId == t && a.Actor == "stripe")));
        }
    }

    private Task<List<string>> StoreDueTogetherAsync(List<(string Tenant, string Body)> events) => StoreDueTogetherAsync(Fx, events);

    /// <summary>Stores the events in one statement as pending, due one second from now (so one take finds them all); returns their ids in order.</summary>
    internal static async Task<List<string>> StoreDueTogetherAsync(ControlPlaneFixture fx, List<(string Tenant, string Body)> events)
    {
        var parsed = events.Select(e => (e.Tenant, e.Body, Event: StripeWebhookEvents.Parse(e.Body))).ToList();
        var due = DateTimeOffset.UtcNow.AddSeconds(1);
        await fx.DbAsync(async db =>
        {
            foreach (var (tenant, body, e) in parsed)
            {
                db.StripeEvents.Add(new StripeEventRecord
                {
                    EventId = e.Id, Type = e.Type, StripeCreated = e.CreatedAt(), ReceivedAt = DateTimeOffset.UtcNow, Payload = body,
                    TenantId = tenant, Environment = "production", NextAttemptAt = due,
                });
            }

            return await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        });
        return parsed.Select(p => p.Event.Id).ToList();
    }
}

/// <summary>One webhook worker with re-reading on (the shipped default).</summary>
public sealed class SingleWorkerRereadWorld : StripeWorld
{
    public SingleWorkerRereadWorld() => Overrides["ED_WEBHOOK_WORKERS"] = "1";
}

/// <summary>Re-reads in a batch: what the payloads cannot decide costs one read of each subscription, whatever the number of its events.</summary>
public sealed class WebhookRereadBatchTests(SingleWorkerRereadWorld world) : IClassFixture<SingleWorkerRereadWorld>
{
    [Fact]
    public async Task SameSecondEventsOfOneSubscription_WaitingTogether_CostOneReread_AndEndInStripesState()
    {
        var fx = world.Host;
        var tenant = await fx.CreateTenantAsync();
        var (sub, checkout) = await world.SubscribeAsync(tenant);
        await world.DeliverAsync(checkout);
        var second = (await world.RowAsync(tenant)).LastStripeEventCreated!.Value;

        // Three events of the second the row already holds (ties: the payloads cannot decide), saying what Stripe no longer says.
        var events = new List<(string Tenant, string Body)>();
        foreach (var status in new[] { "past_due", "unpaid", "past_due" })
        {
            events.Add((tenant, ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionUpdated, tenant, status, second, sub)
                .WithPriceIds("price_1PgbusinessMonthlyDev01").ToJson()));
        }

        world.Stripe.State.ClearRequests();
        var ids = await WebhookBatchTests.StoreDueTogetherAsync(fx, events);
        foreach (var id in ids)
        {
            Assert.Equal((StripeEventRecord.Processed, "applied"), ((await fx.WaitProcessedAsync(id)).Status, (await fx.WaitProcessedAsync(id)).Outcome));
        }

        Assert.Single(world.Stripe.State.Requests, r => r.Method == "GET" && r.Path == $"/v1/subscriptions/{sub}");
        var row = await world.RowAsync(tenant);
        Assert.Equal(("active", "pro"), (row.StripeStatus, row.PlanId));
    }
}
