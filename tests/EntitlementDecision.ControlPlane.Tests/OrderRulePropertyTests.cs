using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Subscriptions;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Stripe;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>
/// Property of the order rule (<see cref="SubscriptionOrder"/> through <see cref="SubscriptionSync"/>, no database): a
/// subscription's history of changes, some made through our API (their object applied at once, stamped with our sub-second
/// clock) and some by Stripe, often several in one second; each change emits an event whose <c>created</c> is its whole second.
/// Events arrive in any order after they were emitted, our API applies interleave with them, and the row must end in Stripe's
/// final state. Payload mode: Stripe's events of one second arrive in the order Stripe made them (a payload cannot order
/// same-second changes; the re-read mode can), across seconds in any order. Re-read mode: any order; an event the payload cannot
/// decide is answered by Stripe's object as it is at that moment.
/// </summary>
public sealed class OrderRulePropertyTests
{
    private const string ProPrice = "price_1PgafmB7WZ01zgkW6dKueIc5";
    private const string BusinessPrice = "price_1PgbusinessMonthlyDev01";
    private static readonly PlanCatalog Catalog = PlanCatalogLoader.LoadFile(Path.Combine(RepoPaths.Root, "catalog", "plans.json"));
    private static readonly DateTimeOffset Base = DateTimeOffset.FromUnixTimeSeconds(1_790_000_000);

    /// <summary>One change: who made it, the state after it, and when (ticks after <see cref="Base"/>).</summary>
    public sealed record Change(bool ThroughOurApi, string Status, bool Business, bool CancelAtPeriodEnd, long AtTicks);

    /// <summary>A history and, per event, the slot (index of a later change, or the end) at which it is delivered.</summary>
    public sealed record History(Change[] Changes, int[] DeliverySlots, int[] Shuffle)
    {
        public override string ToString() =>
            string.Join(" | ", Changes.Select((c, i) => $"{i}:{(c.ThroughOurApi ? "api" : "stripe")} {c.Status} {(c.Business ? "business" : "pro")} cape={c.CancelAtPeriodEnd} t={c.AtTicks / TimeSpan.TicksPerMillisecond}ms d={DeliverySlots[i]}"))
            + $" shuffle=[{string.Join(",", Shuffle)}]";
    }

    private static Arbitrary<History> Histories()
    {
        var change =
            from api in Gen.Elements(true, false)
            from status in Gen.Elements("active", "active", "past_due", "trialing", "unpaid")
            from business in Gen.Elements(true, false)
            from cape in Gen.Elements(true, false)
            from gapMs in Gen.Frequency((4, Gen.Choose(1, 300)), (1, Gen.Choose(1000, 2500)))
            select new Change(api, status, business, cape, gapMs * TimeSpan.TicksPerMillisecond);
        var gen =
            from count in Gen.Choose(2, 8)
            from changes in Gen.ArrayOf(change, count)
            from ends in Gen.Elements("canceled", "incomplete_expired", "none", "none")
            from start in Gen.Choose(0, 999)
            from slots in Gen.ArrayOf(Gen.Choose(0, 8), count)
            from shuffle in Gen.Shuffle(Enumerable.Range(0, 64).ToArray())
            select Build(changes, ends, start, slots, shuffle);
        return Arb.From(gen);
    }

    // Times accumulate from a start within the first second; a terminal end (made by Stripe) replaces the last change.
    private static History Build(Change[] changes, string end, int startMs, int[] slots, int[] shuffle)
    {
        var at = startMs * TimeSpan.TicksPerMillisecond;
        var timed = new Change[changes.Length];
        for (var i = 0; i < changes.Length; i++)
        {
            at += i == 0 ? 0 : changes[i].AtTicks;
            timed[i] = changes[i] with { AtTicks = at };
        }

        if (end != "none")
        {
            timed[^1] = timed[^1] with { ThroughOurApi = false, Status = end };
        }

        var delivery = slots.Select((s, i) => Math.Clamp(s, i, changes.Length)).ToArray();
        return new History(timed, delivery, shuffle);
    }

    [Fact]
    public void AnyInterleavingOfOurChangesAndStripesEvents_EndsInStripesFinalState_FromPayloads() =>
        Prop.ForAll(Histories(), h => Run(h, reread: false)).Check(Config.QuickThrowOnFailure.WithMaxTest(500));

    [Fact]
    public void AnyInterleavingOfOurChangesAndStripesEvents_EndsInStripesFinalState_WhenReReading() =>
        Prop.ForAll(Histories(), h => Run(h, reread: true)).Check(Config.QuickThrowOnFailure.WithMaxTest(500));

    /// <summary>The lost cancellation of issue 21: our upgrade and cancel-at-period-end, then Stripe's deletion, all in one second.</summary>
    [Fact]
    public void StripesCancellation_InTheSecondOfOurOwnChanges_IsApplied_NotStale()
    {
        var (db, sync) = World();
        var row = NewRow();
        var second = Base.AddSeconds(42);
        Assert.Equal(SubscriptionSync.Applied, sync.Apply(row, Update("active", true, false, second.AddMilliseconds(300)), StateSource.Read, second, "owner", "upgrade", "req", second).Outcome);
        Assert.Equal(SubscriptionSync.Applied, sync.Apply(row, Update("active", true, true, second.AddMilliseconds(700)), StateSource.Read, second, "owner", "cancel", "req", second).Outcome);

        var deleted = sync.Apply(row, Update("canceled", true, true, second), StateSource.Event, second, "stripe", "customer.subscription.deleted", "evt_deleted", second);

        Assert.Equal((SubscriptionSync.Applied, "canceled"), (deleted.Outcome, row.StripeStatus));
        Assert.Equal((second, second.AddMilliseconds(700)), (row.LastStripeEventCreated, row.LastStripeReadAt));
        // A non-terminal event of the same second never revives it; one of an earlier second is older than our own change.
        Assert.Equal(SubscriptionSync.IgnoredStale, sync.Apply(row, Update("active", true, true, second), StateSource.Event, second, "stripe", "customer.subscription.updated", "evt_late", second).Outcome);
        var fresh = NewRow();
        sync.Apply(fresh, Update("active", true, false, second.AddMilliseconds(300)), StateSource.Read, second, "owner", "upgrade", "req", second);
        Assert.Equal(SubscriptionSync.IgnoredStale, sync.Apply(fresh, Update("past_due", false, false, second.AddSeconds(-1)), StateSource.Event, second, "stripe", "customer.subscription.updated", "evt_old", second).Outcome);
        Assert.Equal("business", fresh.PlanId);
        db.Dispose();
    }

    [Theory]
    [InlineData("active", "invoice.paid", 0, true)]             // a renewal: the update and the payment agree in one second
    [InlineData("past_due", "invoice.payment_failed", 0, true)]
    [InlineData("past_due", "invoice.paid", 0, false)]          // same second, they disagree: which came last? Stripe's object says
    [InlineData("active", "invoice.payment_failed", 0, false)]
    [InlineData("past_due", "invoice.paid", 1, true)]           // the invoice is newer than the state
    [InlineData("active", "invoice.payment_failed", -1, true)]  // the state is newer than the invoice
    public void InvoiceEvent_NeedsStripesObject_OnlyForASameSecondDisagreement(string status, string type, int invoiceSecondsAfterState, bool decides)
    {
        var row = NewRow();
        row.StripeStatus = status;
        row.LastStripeEventCreated = Base;
        Assert.Equal(decides, SubscriptionOrder.InvoiceDecides(row, type, Base.AddSeconds(invoiceSecondsAfterState)));
    }

    private static bool Run(History h, bool reread)
    {
        var (db, sync) = World();
        using var _ = db;
        var row = NewRow();
        var n = h.Changes.Length;

        // The actions of each slot: our API apply of that change (if ours), and the events delivered then, in a shuffled order.
        var actions = new List<(bool Api, int Change, int Slot)>();
        var shuffle = 0;
        for (var slot = 0; slot <= n; slot++)
        {
            var here = new List<(bool Api, int Change, int Slot)>();
            if (slot < n && h.Changes[slot].ThroughOurApi)
            {
                here.Add((true, slot, slot));
            }

            here.AddRange(Enumerable.Range(0, n).Where(e => h.DeliverySlots[e] == slot).Select(e => (false, e, slot)));
            actions.AddRange(here.OrderBy(_ => h.Shuffle[shuffle++ % h.Shuffle.Length]));
        }

        if (!reread)
        {
            // Payload mode: the events of one second are delivered in Stripe's order, in the places the schedule gave that second.
            foreach (var group in Enumerable.Range(0, n).GroupBy(e => Second(h.Changes[e].AtTicks)))
            {
                var places = actions.Select((a, i) => (a, i)).Where(x => !x.a.Api && group.Contains(x.a.Change)).Select(x => x.i).ToList();
                var ordered = group.OrderBy(e => e).ToList();
                for (var k = 0; k < places.Count; k++)
                {
                    actions[places[k]] = (false, ordered[k], actions[places[k]].Slot);
                }
            }
        }

        foreach (var (api, index, slot) in actions)
        {
            var made = Math.Min(slot, n - 1); // the newest change made by now: Stripe's current object
            var change = h.Changes[index];
            var at = Base.AddTicks(change.AtTicks);
            if (api)
            {
                sync.Apply(row, Update(change.Status, change.Business, change.CancelAtPeriodEnd, at), StateSource.Read, at, "owner", "api", "req", at);
                continue;
            }

            var payload = Update(change.Status, change.Business, change.CancelAtPeriodEnd, SubscriptionOrder.Second(at));
            if (reread && SubscriptionOrder.OfEvent(row, payload) != OrderVerdict.Newer)
            {
                // Stripe's object now: the newest change made (and a little later than it, our clock).
                var current = h.Changes[made];
                var observed = Base.AddTicks(current.AtTicks + 10);
                sync.Apply(row, Update(current.Status, current.Business, current.CancelAtPeriodEnd, observed), StateSource.Read, at, "stripe", "reread", "evt", observed);
                SubscriptionOrder.Note(row, StateSource.Event, payload.EventCreated);
                continue;
            }

            sync.Apply(row, payload, StateSource.Event, at, "stripe", "event", "evt", at);
        }

        var final = h.Changes[^1];
        var expected = (final.Status, final.Business ? "business" : "pro", final.CancelAtPeriodEnd);
        var actual = (row.StripeStatus, row.PlanId, row.CancelAtPeriodEnd);
        if (expected != actual)
        {
            throw new Xunit.Sdk.XunitException($"expected {expected}, row {actual}; actions [{string.Join(", ", actions.Select(a => (a.Api ? "api" : "evt") + a.Change))}]");
        }

        return true;
    }

    private static long Second(long ticks) => ticks / TimeSpan.TicksPerSecond;

    private static (EntitlementsDbContext Db, SubscriptionSync Sync) World()
    {
        // Nothing is saved: SubscriptionSync only adds audit and outbox rows to the context.
        var db = new EntitlementsDbContext(new DbContextOptionsBuilder<EntitlementsDbContext>().UseNpgsql("Host=127.0.0.1;Database=unused").Options);
        return (db, new SubscriptionSync(db, Catalog));
    }

    private static Entitlement NewRow() => new()
    {
        TenantId = "t-order",
        Environment = "production",
        PlanId = "pro",
        StripeSubscriptionId = "sub_order",
        StripeCustomerId = "cus_order",
        StripeStatus = "active",
    };

    private static SubscriptionUpdate Update(string status, bool business, bool cancelAtPeriodEnd, DateTimeOffset stamp) => new(
        "t-order", "production", "sub_order", "cus_order", status, [business ? BusinessPrice : ProPrice], null,
        Base.AddDays(30), cancelAtPeriodEnd, null, "evt_order", "customer.subscription.updated", stamp);
}
