using System.Diagnostics.Metrics;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.Stripe;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>
/// Billing KPIs count what committed, once (shipped mode: re-reads on, one webhook worker so events due together share a batch):
/// a batch that rolls back and is replayed event by event, and an event retried after a throw, count each change one time.
/// </summary>
public sealed class BillingKpiTests(SingleWorkerRereadWorld world) : IClassFixture<SingleWorkerRereadWorld>
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.UtcNow.AddMinutes(-30);

    [Fact]
    public async Task RolledBackBatch_ReplayedAndRetried_CountsEachCommittedTransitionOnce()
    {
        var fx = world.Host;
        var tenants = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            tenants.Add(await fx.CreateTenantAsync());
        }

        // A real database error for one tenant, twice: it rolls the batch back, then fails its own first retry; the third try commits.
        var flaky = await fx.CreateTenantAsync();
        tenants.Add(flaky);
        var name = "flaky_" + flaky.Replace('-', '_');
        var trigger = $"""
            CREATE SEQUENCE {name}_tries;
            CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS
            $$BEGIN IF nextval('{name}_tries') <= 2 THEN RAISE EXCEPTION 'test: entitlement of {flaky} refuses this update'; END IF; RETURN NEW; END$$;
            CREATE TRIGGER {name} BEFORE UPDATE ON entitlements FOR EACH ROW
            WHEN (NEW.tenant_id = '{flaky}') EXECUTE FUNCTION {name}();
            """;
        await fx.DbAsync(db => db.Database.ExecuteSqlRawAsync(trigger, TestContext.Current.CancellationToken));

        using var kpis = new KpiListener();
        var ids = await WebhookBatchTests.StoreDueTogetherAsync(fx, tenants.Select((t, i) => (t, ControlPlaneFixture.SubscriptionEvent(
            StripeSubscriptionEvents.SubscriptionUpdated, t, "active", T0.AddSeconds(i), "sub_" + t).ToJson())).ToList());
        var rows = new List<StripeEventRecord>();
        foreach (var id in ids)
        {
            rows.Add(await fx.WaitProcessedAsync(id));
        }

        Assert.All(rows, r => Assert.Equal((StripeEventRecord.Processed, "applied"), (r.Status, r.Outcome)));
        Assert.Equal(2, rows[^1].Attempts); // the rolled-back batch attempt is not counted; its own first retry failed
        var audited = await fx.DbAsync(db => db.AuditEntries.CountAsync(a => tenants.Contains(a.TenantId) && ids.Contains(a.Cause)));
        Assert.Equal(tenants.Count, audited);
        // One transition none -> active per committed change: not 5 + 5 (the batch) + 2 (the failed tries).
        Assert.Equal(tenants.Count, kpis.Sum("ed.billing.subscription_transitions", ("to", "active")));
        Assert.Equal(0, kpis.Sum("ed.billing.payments_failed"));
    }

    [Fact]
    public async Task SelfServiceJourney_CountsCheckoutCreatedCompletedAndTheUpgrade_EachOnce()
    {
        var fx = world.Host;
        var ct = TestContext.Current.CancellationToken;
        var tenant = await fx.CreateTenantAsync();
        var owner = fx.Token(Auth.Roles.Owner, tenant, "alice");
        using var kpis = new KpiListener();

        var (created, json) = await fx.SendAsync(HttpMethod.Post, "/billing/checkout", owner, new { plan_id = "pro" });
        Assert.Equal(System.Net.HttpStatusCode.OK, created.StatusCode);
        var session = (string)json!["id"]!;
        var (retried, _) = await fx.SendAsync(HttpMethod.Post, "/billing/checkout", owner, new { plan_id = "pro" }); // Stripe replays it
        Assert.Equal(System.Net.HttpStatusCode.OK, retried.StatusCode);
        await world.DeliverAsync(await world.Stripe.State.CompleteCheckoutSessionAsync(session, ct));
        var (upgraded, _) = await fx.SendAsync(HttpMethod.Post, "/billing/subscription/change", owner, new { plan_id = "business" });
        Assert.Equal(System.Net.HttpStatusCode.OK, upgraded.StatusCode);

        Assert.Equal(1, kpis.Sum("ed.billing.checkout_sessions", ("stage", "created")));
        Assert.Equal(1, kpis.Sum("ed.billing.checkout_sessions", ("stage", "completed")));
        Assert.Equal(1, kpis.Sum("ed.billing.plan_changes", ("kind", "upgrade")));
        Assert.Equal(0, kpis.Sum("ed.billing.plan_changes", ("kind", "cancel_scheduled")));
    }

    /// <summary>Sums the control plane's counters by name (and one tag), and counts its histograms' records, from the moment it is created.</summary>
    internal sealed class KpiListener : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly List<(string Name, long Value, Dictionary<string, object?> Tags)> _seen = [];

        public KpiListener()
        {
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "EntitlementDecision.ControlPlane")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                var copy = new Dictionary<string, object?>();
                foreach (var t in tags)
                {
                    copy[t.Key] = t.Value;
                }

                lock (_seen)
                {
                    _seen.Add((instrument.Name, value, copy));
                }
            });
            _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
            {
                lock (_seen)
                {
                    _seen.Add((instrument.Name, 1, []));
                }
            });
            _listener.Start();
        }

        public long Sum(string name, (string Key, string Value)? tag = null)
        {
            lock (_seen)
            {
                return _seen.Where(s => s.Name == name && (tag is not { } t || Equals(s.Tags.GetValueOrDefault(t.Key), t.Value))).Sum(s => s.Value);
            }
        }

        /// <summary>How many measurements of <paramref name="name"/> were recorded (histograms: one per record).</summary>
        public int Count(string name)
        {
            lock (_seen)
            {
                return _seen.Count(s => s.Name == name);
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
