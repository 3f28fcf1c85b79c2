using System.Net;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.Engine.Decisions;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.FakeStripe;
using EntitlementDecision.Stripe;
using EntitlementDecision.Stripe.Api;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>
/// A subscription's life driven on the fake Stripe API (Stripe's published object shapes), its emitted events delivered signed to
/// the control plane, which re-reads the subscription from Stripe; the published snapshot is read back from Redis and evaluated with
/// the Engine's Evaluator (as the sidecar does).
/// </summary>
public sealed class BillingLifecycleTests(StripeWorld world) : IClassFixture<StripeWorld>
{
    private ControlPlaneFixture Fx => world.Host;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The snapshot with at least <paramref name="version"/> from Redis, and the Evaluator's answer for advanced_reports (a pro feature, a read).</summary>
    private async Task<(Snapshot Snapshot, Decision Decision)> PublishedAsync(string tenant, long version)
    {
        var snapshot = await Fx.WaitForSnapshotAsync(tenant, s => s.Version >= version);
        Assert.NotNull(snapshot);
        Assert.Equal(version, snapshot.Version);
        return (snapshot, Evaluator.Evaluate(snapshot, "advanced_reports", 1, 0, DateTimeOffset.UtcNow));
    }

    /// <summary>(reads allowed, writes allowed, reason of the write, access mode) of <paramref name="snapshot"/> at <paramref name="at"/>:
    /// advanced_reports is a read, projects a write (catalog/plans.json).</summary>
    private static (bool Read, bool Write, DecisionReason WriteReason, AccessMode Mode) At(Snapshot snapshot, DateTimeOffset at)
    {
        var read = Evaluator.Evaluate(snapshot, "advanced_reports", 1, 0, at);
        var write = Evaluator.Evaluate(snapshot, "projects", 1, 0, at);
        return (read.Allowed, write.Allowed, write.Reason, snapshot.AccessAt(at).Mode);
    }

    [Fact]
    public async Task TrialActivePastDuePaidUnpaidPausedIncompleteCanceled_EachStatusReachesTheSnapshot()
    {
        var tenant = await Fx.CreateTenantAsync();
        var (sub, checkoutEvents) = await world.SubscribeAsync(tenant, trialDays: 14);
        Assert.All(await world.DeliverAsync(checkoutEvents), o => Assert.Equal("applied", o));
        var row = await world.RowAsync(tenant);
        Assert.Equal(("trialing", "pro", sub), (row.StripeStatus, row.PlanId, row.StripeSubscriptionId));
        Assert.NotNull(row.CurrentPeriodStart);
        var (snapshot, decision) = await PublishedAsync(tenant, row.Version);
        Assert.Equal((SubscriptionState.Trialing, "pro", true), (snapshot.SubscriptionState, snapshot.PlanId, decision.Allowed));

        await world.DeliverAsync(await world.Stripe.State.EndTrialAsync(sub, Ct));
        row = await world.RowAsync(tenant);
        Assert.Equal(("active", (DateTimeOffset?)null), (row.StripeStatus, row.DunningStartedAt));
        (snapshot, decision) = await PublishedAsync(tenant, row.Version);
        Assert.Equal((SubscriptionState.Active, true), (snapshot.SubscriptionState, decision.Allowed));

        // A renewal payment fails: dunning starts at the failed invoice's event, a reminder is recorded while in the full-access days.
        var failed = await world.Stripe.State.FailPaymentAsync(sub, Ct);
        await world.DeliverAsync(failed);
        var failedInvoiceEvent = failed.EventIds.Select(id => world.Stripe.State.Find(id)!).Single(e => (string?)e["type"] == StripeInvoiceEvents.PaymentFailed);
        row = await world.RowAsync(tenant);
        Assert.Equal("past_due", row.StripeStatus);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds((long)failedInvoiceEvent["created"]!), row.DunningStartedAt);
        Assert.True(row.DunningAttempts >= 1);
        var audit = await world.AuditAsync(tenant);
        var reminder = Assert.Single(audit, a => a.Action == "dunning.reminder");
        Assert.Equal((string?)failedInvoiceEvent["id"], reminder.Cause);
        Assert.Contains("grace_ends_at", reminder.After!);
        (snapshot, decision) = await PublishedAsync(tenant, row.Version);
        Assert.Equal((SubscriptionState.PastDue, "pro", true), (snapshot.SubscriptionState, snapshot.PlanId, decision.Allowed));
        // The published dunning schedule (default policy 3 / 14 days from the failed payment): grace, read-only, suspended.
        var start = row.DunningStartedAt!.Value;
        Assert.Equal((start.AddDays(3), start.AddDays(14)), (snapshot.GraceEndsAt, snapshot.SuspendAt));
        Assert.Equal((true, true, DecisionReason.Granted, AccessMode.Grace), At(snapshot, start.AddDays(1)));
        Assert.Equal((true, false, DecisionReason.ReadOnly, AccessMode.ReadOnly), At(snapshot, start.AddDays(5)));
        Assert.Equal((false, false, DecisionReason.BillingSuspended, AccessMode.Suspended), At(snapshot, start.AddDays(15)));
        var (_, view) = await Fx.SendAsync(HttpMethod.Get, "/billing/entitlements", Fx.Token(Roles.Member, tenant));
        Assert.Equal(("grace", "past_due"), ((string?)view!["access_mode"], (string?)view["subscription_state"]));

        // Paid again: dunning ends, full access.
        await world.DeliverAsync(await world.Stripe.State.PayAsync(sub, Ct));
        row = await world.RowAsync(tenant);
        Assert.Equal(("active", (DateTimeOffset?)null, 0), (row.StripeStatus, row.DunningStartedAt, row.DunningAttempts));
        (snapshot, _) = await PublishedAsync(tenant, row.Version);
        Assert.Equal((true, true, DecisionReason.Granted, AccessMode.Full), At(snapshot, DateTimeOffset.UtcNow.AddDays(20)));

        // unpaid: the plan stays under the dunning schedule from the event that revealed it; paused, incomplete and
        // incomplete_expired end in the baseline plan; active again is full access. incomplete_expired is terminal in Stripe
        // (nothing revives it), so it comes last.
        foreach (var (status, plan) in new[] { ("unpaid", "pro"), ("paused", "free"), ("incomplete", "free"), ("active", "pro"), ("incomplete_expired", "free") })
        {
            var before = row.Version;
            var step = await world.Stripe.State.SetStatusAsync(sub, status, Ct);
            await world.DeliverAsync(step);
            row = await world.RowAsync(tenant);
            Assert.Equal(status, row.StripeStatus);
            Assert.True(row.Version > before, $"{status}: version not bumped");
            (snapshot, decision) = await PublishedAsync(tenant, row.Version);
            Assert.Equal(plan, snapshot.PlanId);
            var now = DateTimeOffset.UtcNow;
            if (status == "unpaid")
            {
                var revealed = DateTimeOffset.FromUnixTimeSeconds((long)world.Stripe.State.Find(step.EventIds[0])!["created"]!);
                Assert.Equal(revealed, row.DunningStartedAt);
                Assert.Equal((true, true, DecisionReason.Granted, AccessMode.Grace), At(snapshot, now));
                Assert.Equal((true, false, DecisionReason.ReadOnly, AccessMode.ReadOnly), At(snapshot, revealed.AddDays(4)));
                Assert.Equal((false, false, DecisionReason.BillingSuspended, AccessMode.Suspended), At(snapshot, revealed.AddDays(14)));
            }
            else if (plan == "free")
            {
                Assert.Null(row.DunningStartedAt);
                Assert.Equal((false, DecisionReason.SubscriptionInactive, AccessMode.Full), (decision.Allowed, decision.Reason, snapshot.AccessAt(now).Mode));
                Assert.True(At(snapshot, now).Write, "projects is in the baseline plan");
            }
            else
            {
                Assert.Equal((true, true, DecisionReason.Granted, AccessMode.Full), At(snapshot, now));
            }
        }

        await world.DeliverAsync(await world.Stripe.State.DeleteSubscriptionAsync(sub, Ct));
        row = await world.RowAsync(tenant);
        Assert.Equal("canceled", row.StripeStatus);
        (snapshot, decision) = await PublishedAsync(tenant, row.Version);
        Assert.Equal((SubscriptionState.Canceled, "free", false, DecisionReason.SubscriptionInactive), (snapshot.SubscriptionState, snapshot.PlanId, decision.Allowed, decision.Reason));

        // Every change is audited with the event that caused it.
        audit = await world.AuditAsync(tenant);
        Assert.All(audit.Where(a => a.Actor == "stripe"), a => Assert.StartsWith("evt_", a.Cause));
        Assert.Contains(audit, a => a.Action == StripeSubscriptionEvents.SubscriptionDeleted && a.After!.Contains("\"canceled\""));
    }

    [Fact]
    public async Task TrialWillEnd_RecordsTheReminder()
    {
        var tenant = await Fx.CreateTenantAsync();
        var (sub, events) = await world.SubscribeAsync(tenant, trialDays: 7);
        await world.DeliverAsync(events);
        var result = await world.Stripe.State.TrialWillEndAsync(sub, Ct);
        Assert.Equal(["applied"], await world.DeliverAsync(result));
        var reminder = Assert.Single(await world.AuditAsync(tenant), a => a.Action == "trial.reminder");
        Assert.Equal(result.EventIds[0], reminder.Cause);
        Assert.Contains("trial_end", reminder.After!);
    }

    [Fact]
    public async Task LateEventsInReverseOrderWithDuplicates_EndInStripesCurrentState()
    {
        var tenant = await Fx.CreateTenantAsync();
        var (sub, checkout) = await world.SubscribeAsync(tenant);
        var history = new List<string>(checkout);
        history.AddRange((await world.Stripe.State.FailPaymentAsync(sub, Ct)).EventIds);
        history.AddRange((await world.Stripe.State.PayAsync(sub, Ct)).EventIds);
        history.AddRange((await world.Stripe.State.CancelAtPeriodEndAsync(sub, Ct)).EventIds);

        var reversed = Enumerable.Reverse(history).ToList();
        await world.DeliverAsync(reversed.Concat(reversed.Take(2)));

        var row = await world.RowAsync(tenant);
        var stripe = world.Subscription(sub);
        Assert.Equal(((string?)stripe["status"], true, (DateTimeOffset?)null), (row.StripeStatus, row.CancelAtPeriodEnd, row.DunningStartedAt));
        Assert.Equal("pro", row.PlanId);
    }

    [Fact]
    public async Task StripeUnavailableTwice_EventIsRetriedThenApplied()
    {
        var tenant = await Fx.CreateTenantAsync();
        var (sub, checkout) = await world.SubscribeAsync(tenant);
        // The subscription's creation is applied from its payload; a second event of the same second is a tie that needs Stripe's object.
        var created = checkout.Single(id => (string?)world.Stripe.State.Find(id)!["type"] == StripeSubscriptionEvents.SubscriptionCreated);
        Assert.Equal("applied", await Fx.DeliverAsync(world.EventBody(created)));
        var tie = System.Text.Json.Nodes.JsonNode.Parse(world.EventBody(created))!;
        tie["id"] = created = "evt_tie_" + Guid.NewGuid().ToString("N");
        tie["type"] = StripeSubscriptionEvents.SubscriptionUpdated;
        var before = (await Fx.SendAsync(HttpMethod.Get, "/billing/webhooks/stats", Fx.OperatorToken())).Json;
        world.Stripe.State.AddFault(new FakeFault($"/v1/subscriptions/{sub}", Status: 503, Count: 2, Method: "GET"));

        var (response, ack) = await Fx.PostWebhookAsync(System.Text.Encoding.UTF8.GetBytes(tie.ToJsonString()));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("pending", (string?)ack?["status"]);
        var processed = await Fx.WaitProcessedAsync(created);
        Assert.Equal((StripeEventRecord.Processed, "applied", 3, (string?)null), (processed.Status, processed.Outcome, processed.Attempts, processed.LastError));
        Assert.Equal("active", (await world.RowAsync(tenant)).StripeStatus);

        var after = (await Fx.SendAsync(HttpMethod.Get, "/billing/webhooks/stats", Fx.OperatorToken())).Json;
        Assert.True((long)after!["since_start"]!["retried"]! - (long)before!["since_start"]!["retried"]! >= 2);
    }

    [Fact]
    public async Task EventOfASubscriptionStripeDoesNotKnow_EndsFailed_IsListed_AndCanBeRetried()
    {
        var tenant = await Fx.CreateTenantAsync();
        // A payload that decides is applied without asking Stripe; the second event of the same second cannot decide: re-read, 404.
        var created = DateTimeOffset.UtcNow.AddMinutes(-1);
        Assert.Equal("applied", await Fx.DeliverAsync(ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionUpdated, tenant, "active", created, subscriptionId: "sub_not_in_this_account").ToUtf8Bytes()));
        var version = (await world.RowAsync(tenant)).Version;
        var body = ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionUpdated, tenant, "past_due", created, subscriptionId: "sub_not_in_this_account").ToUtf8Bytes();
        var (response, ack) = await Fx.PostWebhookAsync(body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var eventId = (string)ack!["event_id"]!;
        var failed = await Fx.WaitProcessedAsync(eventId);
        Assert.Equal((StripeEventRecord.Failed, 8), (failed.Status, failed.Attempts));
        Assert.Contains("404", failed.LastError);
        Assert.Equal(version, (await world.RowAsync(tenant)).Version);

        var (list, listJson) = await Fx.SendAsync(HttpMethod.Get, $"/billing/webhooks/events?status=failed&tenant_id={tenant}", Fx.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        var listed = Assert.Single(listJson!["events"]!.AsArray());
        Assert.Equal((eventId, "failed"), ((string?)listed!["event_id"], (string?)listed["status"]));
        var (stats, statsJson) = await Fx.SendAsync(HttpMethod.Get, "/billing/webhooks/stats", Fx.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, stats.StatusCode);
        Assert.True((long)statsJson!["stored"]!["failed"]! >= 1);
        Assert.True((long)statsJson["since_start"]!["failed"]! >= 1);

        Assert.Equal(HttpStatusCode.Forbidden, (await Fx.SendAsync(HttpMethod.Post, $"/billing/webhooks/events/{eventId}/retry", Fx.Token(Roles.Owner, tenant))).Response.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Fx.SendAsync(HttpMethod.Post, $"/billing/webhooks/events/{eventId}/retry", null)).Response.StatusCode);
        var (retry, retryJson) = await Fx.ApprovedAsync(HttpMethod.Post, $"/billing/webhooks/events/{eventId}/retry"); // approval-first, the default
        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
        Assert.Equal(("pending", 0), ((string?)retryJson!["status"], (int?)retryJson["attempts"]));
        failed = await Fx.WaitProcessedAsync(eventId);
        Assert.Equal((StripeEventRecord.Failed, 8), (failed.Status, failed.Attempts));
        var audited = Assert.Single(await world.AuditAsync(tenant), a => a.Action == "webhook.retry");
        Assert.Equal("operator:ops", audited.Actor); // the requester; the cause names the approval and its approver
        Assert.Contains("approved by operator:reviewer", audited.Cause, StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.NotFound, (await Fx.SendAsync(HttpMethod.Post, "/billing/webhooks/events/evt_nope/retry", Fx.OperatorToken())).Response.StatusCode);
    }

    [Fact]
    public async Task ProcessedEvent_CannotBeRetried_409()
    {
        var tenant = await Fx.CreateTenantAsync();
        var (_, events) = await world.SubscribeAsync(tenant);
        await world.DeliverAsync(events);
        var (response, json) = await Fx.SendAsync(HttpMethod.Post, $"/billing/webhooks/events/{events[0]}/retry", Fx.OperatorToken());
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal(409, (int?)json?["status"]);
    }

    [Fact]
    public async Task Invoices_KeptFromInvoiceWebhooks_NewestStateWins_OwnerAndOperatorsSeeThem()
    {
        var tenant = await Fx.CreateTenantAsync();
        var (sub, events) = await world.SubscribeAsync(tenant);
        await world.DeliverAsync(events);
        var failed = await world.Stripe.State.FailPaymentAsync(sub, Ct);
        await world.DeliverAsync(failed);
        var (_, open) = await Fx.SendAsync(HttpMethod.Get, "/billing/invoices", Fx.Token(Roles.Owner, tenant));
        var invoice = open!.AsArray().Single(i => (string)i!["status"]! == "open")!; // the renewal invoice whose payment failed
        var id = (string)invoice["invoice_id"]!;
        Assert.Equal("open", (string)invoice["status"]!);
        Assert.True((long)invoice["amount_due"]! > 0);
        Assert.Equal(0, (long)invoice["amount_paid"]!);
        Assert.StartsWith("https://invoice.stripe.com/i/", (string)invoice["hosted_invoice_url"]!, StringComparison.Ordinal);

        // A newer state in a new event (invoice.paid) replaces the open one.
        var payment = await world.Stripe.State.PayAsync(sub, Ct);
        await world.DeliverAsync(payment);
        var (_, paid) = await Fx.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/invoices", Fx.OperatorToken());
        var after = paid!.AsArray().Single(i => (string)i!["invoice_id"]! == id)!;
        Assert.Equal(("paid", (long)invoice["amount_due"]!), ((string)after["status"]!, (long)after["amount_paid"]!));
        Assert.False(string.IsNullOrEmpty((string?)after["number"]));

        // Stripe does not deliver in order: another event (its own id, so the event-id dedupe lets it through) carrying the invoice's
        // open state arrives after the paid one. Older than invoice.paid, or of its second (open is earlier in the lifecycle), it is ignored.
        var failedEvent = world.Stripe.State.Find(failed.EventIds.Single(e => (string?)world.Stripe.State.Find(e)!["type"] == StripeInvoiceEvents.PaymentFailed))!;
        var paidCreated = (long)world.Stripe.State.Find(payment.EventIds.Single(e => (string?)world.Stripe.State.Find(e)!["type"] == StripeInvoiceEvents.Paid))!["created"]!;
        foreach (var created in new[] { paidCreated - 60, paidCreated })
        {
            var lateId = "evt_late_" + Guid.NewGuid().ToString("N");
            var late = failedEvent.DeepClone();
            late["id"] = lateId;
            late["created"] = created;
            Assert.Equal("open", (string?)late["data"]!["object"]!["status"]);
            await Fx.DeliverAsync(System.Text.Encoding.UTF8.GetBytes(late.ToJsonString()));
            Assert.Equal(StripeEventRecord.Processed, (await Fx.WaitProcessedAsync(lateId)).Status); // applied, not deduped or failed
            var (_, again) = await Fx.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/invoices", Fx.OperatorToken());
            var kept = again!.AsArray().Single(i => (string)i!["invoice_id"]! == id)!;
            Assert.Equal(("paid", (long)invoice["amount_due"]!, 0L), ((string)kept["status"]!, (long)kept["amount_paid"]!, (long)kept["amount_remaining"]!));
        }

        Assert.Equal(HttpStatusCode.Forbidden, (await Fx.SendAsync(HttpMethod.Get, "/billing/invoices", Fx.Token(Roles.Member, tenant))).Response.StatusCode);
    }

    [Fact]
    public async Task Audit_IsQueryablePerTenant_AndIsolated()
    {
        var a = await Fx.CreateTenantAsync();
        var b = await Fx.CreateTenantAsync();
        var (sub, events) = await world.SubscribeAsync(a);
        await world.DeliverAsync(events);
        await world.DeliverAsync(await world.Stripe.State.CancelAtPeriodEndAsync(sub, Ct));

        var (ok, page) = await Fx.SendAsync(HttpMethod.Get, $"/tenants/{a}/audit", Fx.Token(Roles.Owner, a));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var entries = page!["entries"]!.AsArray();
        Assert.All(entries, e => Assert.Equal(a, (string?)e!["tenant_id"]));
        var updated = entries.First(e => (string?)e!["action"] == StripeSubscriptionEvents.SubscriptionUpdated)!;
        Assert.Equal(("stripe", false, true), ((string?)updated["actor"], (bool?)updated["before"]!["cancel_at_period_end"], (bool?)updated["after"]!["cancel_at_period_end"]));
        Assert.StartsWith("evt_", (string?)updated["cause"]);

        Assert.Equal(HttpStatusCode.OK, (await Fx.SendAsync(HttpMethod.Get, $"/tenants/{a}/audit", Fx.Token(Roles.Admin, a))).Response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Fx.SendAsync(HttpMethod.Get, $"/tenants/{a}/audit", Fx.OperatorToken())).Response.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await Fx.SendAsync(HttpMethod.Get, $"/tenants/{a}/audit", Fx.Token(Roles.Owner, b))).Response.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await Fx.SendAsync(HttpMethod.Get, $"/tenants/{a}/audit", Fx.Token(Roles.Member, a))).Response.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Fx.SendAsync(HttpMethod.Get, $"/tenants/{a}/audit", null)).Response.StatusCode);
        var (bOwn, bPage) = await Fx.SendAsync(HttpMethod.Get, $"/tenants/{b}/audit", Fx.Token(Roles.Owner, b));
        Assert.Equal(HttpStatusCode.OK, bOwn.StatusCode);
        Assert.All(bPage!["entries"]!.AsArray(), e => Assert.Equal(b, (string?)e!["tenant_id"]));
        Assert.DoesNotContain(bPage["entries"]!.AsArray(), e => (string?)e!["actor"] == "stripe");

        // Filters and paging.
        var (filtered, filteredPage) = await Fx.SendAsync(HttpMethod.Get, $"/tenants/{a}/audit?action={StripeSubscriptionEvents.SubscriptionCreated}", Fx.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, filtered.StatusCode);
        Assert.Single(filteredPage!["entries"]!.AsArray());
        var (first, firstPage) = await Fx.SendAsync(HttpMethod.Get, $"/tenants/{a}/audit?limit=1", Fx.OperatorToken());
        var cursor = (long?)firstPage!["next_cursor"];
        Assert.NotNull(cursor);
        var (_, secondPage) = await Fx.SendAsync(HttpMethod.Get, $"/tenants/{a}/audit?limit=1&before_id={cursor}", Fx.OperatorToken());
        Assert.True((long)secondPage!["entries"]![0]!["id"]! < (long)firstPage["entries"]![0]!["id"]!);
        var future = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddHours(1).ToString("O"));
        var (_, none) = await Fx.SendAsync(HttpMethod.Get, $"/tenants/{a}/audit?from={future}", Fx.OperatorToken());
        Assert.Empty(none!["entries"]!.AsArray());
        Assert.Equal(HttpStatusCode.BadRequest, (await Fx.SendAsync(HttpMethod.Get, $"/tenants/{a}/audit?limit=0", Fx.OperatorToken())).Response.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Fx.SendAsync(HttpMethod.Get, "/tenants/no-such-tenant/audit", Fx.OperatorToken())).Response.StatusCode);
    }
}

/// <summary>The webhook counters on a host of their own, so they count this test's deliveries and nothing else.</summary>
public sealed class WebhookStatsTests(StripeWorld world) : IClassFixture<StripeWorld>
{
    [Fact]
    public async Task Stats_CountReceivedVerifiedRejectedDuplicateProcessed()
    {
        var tenant = await world.Host.CreateTenantAsync();
        var (_, events) = await world.SubscribeAsync(tenant);
        await world.DeliverAsync(events);
        await world.Host.PostWebhookAsync(world.EventBody(events[0])); // duplicate
        await world.Host.PostWebhookAsync(world.EventBody(events[0]), secret: "whsec_forged_000000000"); // bad signature
        await world.Host.PostWebhookAsync("{\"object\":\"event\"}"u8.ToArray()); // signed, not an event

        var (response, after) = await world.Host.SendAsync(HttpMethod.Get, "/billing/webhooks/stats", world.Host.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // This class's host has seen only this test's deliveries: the counters are exact, not deltas.
        long Delta(string name) => (long)after!["since_start"]![name]!;
        Assert.Equal(events.Count + 3, Delta("received"));
        Assert.Equal(events.Count + 2, Delta("verified"));
        Assert.Equal(1, Delta("rejected_signature"));
        Assert.Equal(1, Delta("rejected_parse"));
        Assert.Equal(1, Delta("duplicate"));
        Assert.Equal(events.Count, Delta("stored"));
        Assert.Equal(events.Count, Delta("processed"));
        Assert.True((long)after!["stored"]!["duplicates"]! >= 1);
        Assert.True((long)after["stored"]!["by_outcome"]!["applied"]! >= events.Count);

        Assert.Equal(HttpStatusCode.Forbidden, (await world.Host.SendAsync(HttpMethod.Get, "/billing/webhooks/stats", world.Host.Token(Roles.Admin, tenant))).Response.StatusCode);
    }
}
