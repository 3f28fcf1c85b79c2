using System.Net;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.Stripe.Api;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>The default governance (nothing overridden): every listed action approval-first and reconciliation report-only, on the fake Stripe API.</summary>
public sealed class GovernedWorld : StripeWorld
{
}

/// <summary>Reconciliation that reports drift and files repairs as approvals; an approved repair applies Stripe's state once.</summary>
public sealed class ApprovalFlowTests(GovernedWorld world) : IClassFixture<GovernedWorld>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ControlPlaneFixture Fx => world.Host;

    [Fact]
    public async Task ReportOnlyReconciliation_FilesOneRepairApproval_ApprovedRepairAppliesStripesState()
    {
        var tenant = await Fx.CreateTenantAsync();
        var (sub, events) = await world.SubscribeAsync(tenant);
        await world.DeliverAsync(events);
        await world.Stripe.State.DeleteSubscriptionAsync(sub, Ct); // Stripe canceled it; the webhook never arrived
        var before = await world.RowAsync(tenant);

        var (ran, report) = await Fx.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/reconcile", Fx.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, ran.StatusCode);
        Assert.Contains(report!["mismatches"]!.AsArray(), m => (string)m!["field"]! == "status" && (string)m["action"]! == "reported");
        Assert.Equal(0, (int)report["run"]!["repaired"]!);
        Assert.Equal((before.StripeStatus, before.Version), ((await world.RowAsync(tenant)).StripeStatus, (await world.RowAsync(tenant)).Version)); // nothing applied

        await Fx.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/reconcile", Fx.OperatorToken()); // the same drift again: no second approval
        var (_, pending) = await Fx.SendAsync(HttpMethod.Get, $"/approvals?tenant_id={tenant}", Fx.OperatorToken());
        var approval = Assert.Single(pending!.AsArray());
        Assert.Equal(("reconciliation.repair", "system:reconciliation", sub), ((string)approval!["action"]!, (string)approval["requested_by"]!, (string)approval["payload"]!["subscription_id"]!));

        using var kpis = new BillingKpiTests.KpiListener();
        var (approved, decided) = await Fx.SendAsync(HttpMethod.Post, $"/approvals/{(string)approval["id"]!}/approve", Fx.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        Assert.Equal(200, (int)decided!["approval"]!["result_status"]!);
        // The repair closes the drift both runs reported: a later drift is timed from its own first report.
        var actions = await Fx.DbAsync(db => db.ReconciliationMismatches.Where(m => m.TenantId == tenant).Select(m => m.Action).ToListAsync(Ct));
        Assert.NotEmpty(actions);
        Assert.All(actions, a => Assert.Equal("repaired", a));
        Assert.Equal(1, kpis.Count("ed.reconciliation.time_to_correct"));
        var after = await world.RowAsync(tenant);
        Assert.Equal(("canceled", before.Version + 1), (after.StripeStatus, after.Version));
        var repair = Assert.Single(await world.AuditAsync(tenant), e => e.Action == "reconciliation.repair");
        Assert.Equal("system:reconciliation", repair.Actor);
        Assert.StartsWith($"approval:{(string)approval["id"]!} approved by operator:", repair.Cause, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Support_SeesTheQueue_ButCannotApproveOrReject()
    {
        var tenant = await Fx.CreateTenantAsync();
        var support = Fx.Token(Roles.Support, "platform", "helpdesk");
        var (requested, filed) = await Fx.SendAsync(HttpMethod.Delete, $"/tenants/{tenant}", Fx.OperatorToken());
        Assert.Equal(HttpStatusCode.Accepted, requested.StatusCode);
        var id = (string)filed!["approval"]!["id"]!;

        Assert.Equal(HttpStatusCode.Forbidden, (await Fx.SendAsync(HttpMethod.Post, $"/approvals/{id}/approve", support)).Response.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await Fx.SendAsync(HttpMethod.Post, $"/approvals/{id}/reject", support)).Response.StatusCode);
        var (read, approval) = await Fx.SendAsync(HttpMethod.Get, $"/approvals/{id}", support);
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.Equal(("pending", "tenant.delete"), ((string?)approval?["status"], (string?)approval?["action"]));
        Assert.Equal("active", (string?)(await Fx.SendAsync(HttpMethod.Get, $"/tenants/{tenant}", support)).Json?["status"]);
    }

    [Fact]
    public async Task Reconciliation_ComparesInvoices_AndRefreshesOurCopyAtOnce()
    {
        var tenant = await Fx.CreateTenantAsync();
        var (sub, events) = await world.SubscribeAsync(tenant);
        await world.DeliverAsync(events);
        await world.Stripe.State.FailPaymentAsync(sub, Ct); // Stripe has a new open invoice; its webhooks never arrive

        var (_, report) = await Fx.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/reconcile", Fx.OperatorToken());
        var invoiceDrift = report!["mismatches"]!.AsArray().Where(m => ((string)m!["field"]!).StartsWith("invoice_", StringComparison.Ordinal)).ToList();
        Assert.Contains(invoiceDrift, m => (string)m!["field"]! == "invoice_missing" && (string)m["action"]! == "repaired");
        var (_, invoices) = await Fx.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/invoices", Fx.OperatorToken());
        Assert.Contains(invoices!.AsArray(), i => (string)i!["status"]! == "open");

        var (_, again) = await Fx.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/reconcile", Fx.OperatorToken());
        Assert.DoesNotContain(again!["mismatches"]!.AsArray(), m => ((string)m!["field"]!).StartsWith("invoice_", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WebhookRetry_NeedsASecondOperator_ThenPutsTheFailedEventBack()
    {
        var tenant = await Fx.CreateTenantAsync();
        var eventId = "evt_failed_" + Guid.NewGuid().ToString("N");
        var created = DateTimeOffset.UtcNow.AddMinutes(-1);
        Assert.Equal("applied", await Fx.DeliverAsync(ControlPlaneFixture.SubscriptionEvent(Stripe.StripeSubscriptionEvents.SubscriptionUpdated, tenant, "active", created, "sub_missing_in_fake").ToUtf8Bytes()));
        var body = ControlPlaneFixture.SubscriptionEvent(Stripe.StripeSubscriptionEvents.SubscriptionUpdated, tenant, "past_due", created, "sub_missing_in_fake")
            .WithEventId(eventId).ToUtf8Bytes();
        await Fx.PostWebhookAsync(body);
        // A same-second tie needs Stripe's object; re-reading a subscription the fake does not hold ends the event failed (404).
        var failed = await Fx.WaitProcessedAsync(eventId);
        Assert.Equal("failed", failed.Status);

        var alice = Fx.Token(Roles.Operator, "platform", "alice");
        var (asked, askedJson) = await Fx.SendAsync(HttpMethod.Post, $"/billing/webhooks/events/{eventId}/retry", alice);
        Assert.Equal(HttpStatusCode.Accepted, asked.StatusCode);
        Assert.Equal("failed", (await Fx.DbAsync(db => db.StripeEvents.AsNoTracking().SingleAsync(e => e.EventId == eventId))).Status);
        var id = (string)askedJson!["approval"]!["id"]!;
        Assert.Equal(HttpStatusCode.Forbidden, (await Fx.SendAsync(HttpMethod.Post, $"/approvals/{id}/approve", alice)).Response.StatusCode);

        var (approved, decided) = await Fx.SendAsync(HttpMethod.Post, $"/approvals/{id}/approve", Fx.Token(Roles.Operator, "platform", "bob"));
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        Assert.Equal((eventId, 0), ((string)decided!["result"]!["event_id"]!, (int)decided["result"]!["attempts"]!));
        Assert.Single(await world.AuditAsync(tenant), e => e.Action == "webhook.retry");
    }
}
