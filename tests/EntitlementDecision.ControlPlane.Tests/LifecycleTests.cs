using System.Net;
using System.Text.Json.Nodes;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Metering;
using EntitlementDecision.ControlPlane.Tenants;
using EntitlementDecision.ControlPlane.Tests.Metering;
using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Decisions;
using EntitlementDecision.Redis;
using EntitlementDecision.Stripe;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>The default governance policy (every action approval-first, 72 h to approve, 30 days' retention), on its own Redis database.</summary>
public sealed class LifecycleFixture() : MeteringFixture(10);

/// <summary>
/// One tenant's life on real PostgreSQL and Redis: provision, metered usage, suspend, reactivate, delete (refused while a subscription
/// is live, then approval-first with a second operator), tombstone, purge; the snapshot the sidecar decides from, the tenant token's
/// answers, the audit and the approvals at each step; the ledger still verifies and no stored Stripe payload keeps personal data.
/// </summary>
public sealed class LifecycleTests(LifecycleFixture fx) : IClassFixture<LifecycleFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string OperatorA => fx.Host.Token(Roles.Operator, "platform", "alice");

    private string OperatorB => fx.Host.Token(Roles.Operator, "platform", "bob");

    [Fact]
    public async Task ProvisionUseSuspendReactivateDeleteApprovePurge()
    {
        var now = DateTimeOffset.UtcNow;
        var store = new RedisSnapshotStore(fx.Redis);
        var tenant = TestServices.NewTenantId("lc");
        var owner = fx.Host.Token(Roles.Owner, tenant, "owner-1");

        // Provision.
        var (created, createdJson) = await fx.Host.SendAsync(HttpMethod.Post, "/tenants", OperatorA, new Dictionary<string, string> { ["tenant_id"] = tenant, ["name"] = "Jane Doe Consulting" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("active", (string)createdJson!["status"]!);
        await WaitAsync(async () => await store.GetAsync(new TenantKey("production", tenant), Ct) is not null);

        // Metered usage through the tenant's own token, into the ledger.
        var (usage, usageJson) = await fx.Host.SendAsync(HttpMethod.Post, "/usage/events", owner, new[]
        {
            new Dictionary<string, object> { ["tenant_id"] = tenant, ["feature"] = "api_calls", ["quantity"] = 2, ["event_id"] = "lc-1", ["service"] = "api-gateway" },
        });
        Assert.Equal(HttpStatusCode.OK, usage.StatusCode);
        Assert.True((int)usageJson!["accepted"]! == 1, usageJson.ToJsonString());
        Assert.True(await fx.PumpAsync() >= 1);

        // A Stripe customer with personal data, stored from its webhook.
        var customer = StripeEventBuilder.Create("customer.updated", new JsonObject
        {
            ["id"] = "cus_" + tenant, ["object"] = "customer", ["email"] = "jane@example.com", ["name"] = "Jane Doe",
            ["address"] = new JsonObject { ["line1"] = "1 Main St" }, ["metadata"] = new JsonObject { ["tenant_id"] = tenant, ["environment"] = "production" },
        }).WithEventId("evt_cus_" + tenant).WithCreated(now.AddMinutes(-5)).ToUtf8Bytes();
        Assert.Equal(HttpStatusCode.OK, (await fx.Host.PostWebhookAsync(customer)).Response.StatusCode);

        // Suspend: blocked everywhere, nothing deleted.
        var (suspended, suspendedJson) = await fx.Host.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/suspend", OperatorA);
        Assert.Equal(HttpStatusCode.OK, suspended.StatusCode);
        var blocked = await WaitForSnapshotAsync(store, tenant, s => s.Version == (long)suspendedJson!["snapshot_versions"]!["production"]!);
        Assert.Equal(DecisionReason.TenantSuspended, Evaluator.Evaluate(blocked, "projects", 0, 0, now).Reason);
        var (ownRead, ownReadJson) = await fx.Host.SendAsync(HttpMethod.Get, "/billing/entitlements", owner);
        Assert.Equal(HttpStatusCode.Forbidden, ownRead.StatusCode);
        Assert.Contains("suspended", (string)ownReadJson!["detail"]!, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, (await fx.Host.SendAsync(HttpMethod.Post, "/usage/events", owner, new[]
        {
            new Dictionary<string, object> { ["tenant_id"] = tenant, ["feature"] = "api_calls", ["quantity"] = 1, ["event_id"] = "lc-2", ["service"] = "api-gateway" },
        })).Response.StatusCode);

        // Reactivate: exactly the prior state.
        var (resumed, resumedJson) = await fx.Host.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/resume", OperatorA);
        Assert.Equal(HttpStatusCode.OK, resumed.StatusCode);
        var back = await WaitForSnapshotAsync(store, tenant, s => s.Version == (long)resumedJson!["snapshot_versions"]!["production"]!);
        Assert.Equal((false, "free"), (back.Suspended, back.PlanId));
        Assert.Equal(HttpStatusCode.OK, (await fx.Host.SendAsync(HttpMethod.Get, "/billing/entitlements", owner)).Response.StatusCode);

        // A live subscription refuses the delete, naming what to cancel; once canceled the delete waits for a second operator.
        var sub = "sub_" + tenant;
        await fx.Host.DeliverAsync(ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionCreated, tenant, "active", now.AddMinutes(-4), sub).WithCustomer("cus_" + tenant).ToUtf8Bytes());
        await WaitAsync(async () => (await store.GetAsync(new TenantKey("production", tenant), Ct))?.PlanId == "pro");
        // Invoiced: Stripe's invoice.paid is kept, and the owner sees it.
        var invoiceId = "in_" + tenant;
        var paid = StripeEventBuilder.Create(StripeInvoiceEvents.Paid, new JsonObject
        {
            ["id"] = invoiceId, ["object"] = "invoice", ["customer"] = "cus_" + tenant, ["subscription"] = sub, ["status"] = "paid",
            ["currency"] = "usd", ["total"] = 2000, ["amount_due"] = 2000, ["amount_paid"] = 2000, ["amount_remaining"] = 0, ["number"] = "LC-0001",
            ["attempt_count"] = 1, ["hosted_invoice_url"] = "https://invoice.stripe.com/i/" + invoiceId,
            ["metadata"] = new JsonObject { ["tenant_id"] = tenant, ["environment"] = "production" },
        }).WithEventId("evt_inv_" + tenant).WithCreated(now.AddMinutes(-4).AddSeconds(30)).ToUtf8Bytes();
        Assert.Equal("applied", await fx.Host.DeliverAsync(paid));
        var (_, invoices) = await fx.Host.SendAsync(HttpMethod.Get, "/billing/invoices", owner);
        Assert.Equal(("paid", 2000L), ((string)invoices!.AsArray().Single()!["status"]!, (long)invoices.AsArray().Single()!["amount_paid"]!));

        var (refused, refusedJson) = await fx.Host.SendAsync(HttpMethod.Delete, $"/tenants/{tenant}", OperatorA);
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Contains(sub, (string)refusedJson!["detail"]!, StringComparison.Ordinal);
        await fx.Host.DeliverAsync(ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionDeleted, tenant, "canceled", now.AddMinutes(-3), sub).WithCustomer("cus_" + tenant).ToUtf8Bytes());
        await WaitAsync(async () => (await store.GetAsync(new TenantKey("production", tenant), Ct))?.PlanId == "free");

        var (requested, requestedJson) = await fx.Host.SendAsync(HttpMethod.Delete, $"/tenants/{tenant}", OperatorA);
        Assert.Equal(HttpStatusCode.Accepted, requested.StatusCode);
        var approval = requestedJson!["approval"]!;
        var approvalId = (string)approval["id"]!;
        Assert.Equal(("tenant.delete", tenant, "operator:alice"), ((string)approval["action"]!, (string)approval["tenant"]!, (string)approval["requested_by"]!));
        Assert.True(DateTimeOffset.Parse((string)approval["expires_at"]!, System.Globalization.CultureInfo.InvariantCulture) > now.AddHours(71));
        Assert.Equal("active", await StatusAsync(tenant)); // nothing happens before the approval
        Assert.NotEmpty(requestedJson["irreversible"]!.AsArray()); // the request already warns what cannot be undone, and when
        Assert.Contains("purged 30 days later", (string)requestedJson["message"]!, StringComparison.Ordinal);
        var (_, pending) = await fx.Host.SendAsync(HttpMethod.Get, $"/approvals?status=pending&tenant_id={tenant}", OperatorB);
        Assert.Equal(approvalId, (string)pending!.AsArray().Single()!["id"]!);

        var (own, _) = await fx.Host.SendAsync(HttpMethod.Post, $"/approvals/{approvalId}/approve", OperatorA);
        Assert.Equal(HttpStatusCode.Forbidden, own.StatusCode);
        var (approved, approvedJson) = await fx.Host.SendAsync(HttpMethod.Post, $"/approvals/{approvalId}/approve", OperatorB);
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        Assert.Equal(("executed", "operator:bob", 200), ((string)approvedJson!["approval"]!["status"]!, (string)approvedJson["approval"]!["decided_by"]!, (int)approvedJson["approval"]!["result_status"]!));
        var deletion = approvedJson["result"]!;
        Assert.Equal("deleting", (string)deletion["tenant"]!["status"]!);
        Assert.NotEmpty(deletion["irreversible"]!.AsArray());
        Assert.InRange(DateTimeOffset.Parse((string)deletion["purge_after"]!, System.Globalization.CultureInfo.InvariantCulture), now.AddDays(29.9), now.AddDays(30.1));
        var (again, againJson) = await fx.Host.SendAsync(HttpMethod.Post, $"/approvals/{approvalId}/approve", OperatorB);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode); // idempotent: the same answer, executed once
        Assert.True(JsonNode.DeepEquals(deletion, againJson!["result"]), againJson.ToJsonString());
        Assert.Equal(1, await AuditCountAsync(tenant, "tenant.delete_requested"));

        // Tombstoned: denied everywhere, data kept.
        var tomb = await WaitForSnapshotAsync(store, tenant, s => s.Suspended);
        Assert.Equal(DecisionReason.TenantSuspended, Evaluator.Evaluate(tomb, "projects", 0, 0, now).Reason);
        Assert.Equal(HttpStatusCode.Forbidden, (await fx.Host.SendAsync(HttpMethod.Get, "/billing/entitlements", owner)).Response.StatusCode);
        Assert.Contains("jane@example.com", await PayloadsAsync(tenant), StringComparison.Ordinal);

        // Purge now: approval-first too (bob asks, alice approves).
        var (purgeAsked, purgeAskedJson) = await fx.Host.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/purge", OperatorB);
        Assert.Equal(HttpStatusCode.Accepted, purgeAsked.StatusCode);
        var (purged, purgedJson) = await fx.Host.SendAsync(HttpMethod.Post, $"/approvals/{(string)purgeAskedJson!["approval"]!["id"]!}/approve", OperatorA);
        Assert.Equal(HttpStatusCode.OK, purged.StatusCode);
        Assert.Equal("deleted", (string)purgedJson!["result"]!["tenant"]!["status"]!);
        Assert.True((int)purgedJson["result"]!["redacted_stripe_events"]! >= 4);
        var (_, invoicesAfter) = await fx.Host.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/invoices", OperatorA);
        Assert.Null((string?)invoicesAfter!.AsArray().Single()!["hosted_invoice_url"]); // the link shows the customer's address; the amounts stay
        Assert.Equal(2000, (long)invoicesAfter.AsArray().Single()!["amount_paid"]!);

        var payloads = await PayloadsAsync(tenant);
        Assert.DoesNotContain("jane@example.com", payloads, StringComparison.Ordinal);
        Assert.DoesNotContain("Jane Doe", payloads, StringComparison.Ordinal);
        Assert.DoesNotContain("1 Main St", payloads, StringComparison.Ordinal);
        var (_, audit) = await fx.Host.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/audit?limit=500", OperatorA);
        Assert.DoesNotContain("Jane Doe", audit!.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal(0, await fx.MeteringAsync(db => MeteringCommands.VerifyAsync(db, tenant, null, new StringWriter(), Ct)));

        // The dossier tells the whole story, with the policies in force.
        var (_, dossier) = await fx.Host.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/dossier", OperatorA);
        var actions = dossier!["lifecycle"]!.AsArray().Select(e => (string)e!["action"]!).ToList();
        Assert.Equal(["tenant.created", "tenant.suspended", "tenant.resumed", "approval.requested", "tenant.delete_requested", "approval.approved", "approval.requested", "tenant.purged", "approval.approved"], actions);
        Assert.Equal(["catalog", "dunning", "governance"], dossier["policies"]!.AsArray().Select(p => (string)p!["name"]!).ToList());
        Assert.All(dossier["policies"]!.AsArray(), p => Assert.Matches("^[0-9a-f]{64}$", (string)p!["hash"]!));
        Assert.True((double)dossier["provisioning_ms"]! > 0);
        Assert.Equal(2, dossier["approvals"]!.AsArray().Count);
    }

    [Fact]
    public async Task DisclosurePack_HoldsTheEvidence_AndItsManifestHashesMatchItsFiles()
    {
        var now = DateTimeOffset.UtcNow; // read once: the usage day and the pack's range agree across midnight
        var tenant = await fx.Host.CreateTenantAsync();
        await WaitAsync(async () => await new RedisSnapshotStore(fx.Redis).GetAsync(new TenantKey("production", tenant), Ct) is not null);
        var (usage, _) = await fx.Host.SendAsync(HttpMethod.Post, "/usage/events", fx.Host.Token(Roles.Owner, tenant, "owner-1"), new[]
        {
            new Dictionary<string, object> { ["tenant_id"] = tenant, ["feature"] = "api_calls", ["quantity"] = 5, ["event_id"] = "dp-1", ["service"] = "api-gateway", ["timestamp"] = now.ToString("O") },
        });
        Assert.Equal(HttpStatusCode.OK, usage.StatusCode);
        await fx.PumpAsync();
        await fx.Host.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/suspend", OperatorA);
        var day = now.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

        var response = await fx.Host.Client.SendAsync(fx.Host.Request(HttpMethod.Get, $"/tenants/{tenant}/disclosure-pack?from={day}&to={day}", OperatorA), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/zip", response.Content.Headers.ContentType?.MediaType);
        using var zip = new System.IO.Compression.ZipArchive(await response.Content.ReadAsStreamAsync(Ct));
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var entry in zip.Entries)
        {
            using var stream = entry.Open();
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy, Ct);
            files[entry.FullName] = copy.ToArray();
        }

        var manifest = JsonNode.Parse(files["manifest.json"])!;
        var listed = manifest["files"]!.AsArray().ToDictionary(f => (string)f!["path"]!, f => ((string)f!["sha256"]!, (long)f["bytes"]!));
        Assert.Equal(files.Keys.Where(k => k != "manifest.json").Order(StringComparer.Ordinal), listed.Keys.Order(StringComparer.Ordinal));
        foreach (var (path, bytes) in files.Where(f => f.Key != "manifest.json"))
        {
            Assert.Equal((Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)), (long)bytes.Length), listed[path]);
        }

        Assert.Contains("dossier.json", listed.Keys);
        Assert.Contains(JsonNode.Parse(files["audit.json"])!.AsArray(), e => (string)e!["action"]! == "tenant.suspended");
        Assert.Contains(JsonNode.Parse(files["lifecycle.json"])!["transitions"]!.AsArray(), e => (string)e!["action"]! == "tenant.created");
        var statement = JsonNode.Parse(files[$"statements/production/{now:yyyy-MM}.json"])!;
        Assert.Equal(5, (long)statement["statement"]!["lines"]!.AsArray().Single(l => (string)l!["feature"]! == "api_calls")!["quantity"]!);
        Assert.Contains("integrity/production.json", listed.Keys);
        Assert.Contains("reconciliation.json", listed.Keys);
        Assert.Equal(HttpStatusCode.BadRequest, (await fx.Host.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/disclosure-pack?from=2026-13-01", OperatorA)).Response.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await fx.Host.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/disclosure-pack", fx.Host.Token(Roles.Owner, tenant))).Response.StatusCode);
    }

    [Fact]
    public async Task Rejected_NothingApplied_ThenApproveIsConflict()
    {
        var tenant = await fx.Host.CreateTenantAsync();
        var (asked, askedJson) = await fx.Host.SendAsync(HttpMethod.Put, $"/tenants/{tenant}/entitlements/production/override", OperatorA, new { plan_id = "business" });
        Assert.Equal(HttpStatusCode.Accepted, asked.StatusCode);
        var id = (string)askedJson!["approval"]!["id"]!;

        Assert.Equal(HttpStatusCode.Forbidden, (await fx.Host.SendAsync(HttpMethod.Post, $"/approvals/{id}/reject", OperatorA)).Response.StatusCode);
        var (rejected, rejectedJson) = await fx.Host.SendAsync(HttpMethod.Post, $"/approvals/{id}/reject", OperatorB);
        Assert.Equal(HttpStatusCode.OK, rejected.StatusCode);
        Assert.Equal("rejected", (string)rejectedJson!["approval"]!["status"]!);
        Assert.Equal(HttpStatusCode.Conflict, (await fx.Host.SendAsync(HttpMethod.Post, $"/approvals/{id}/approve", OperatorB)).Response.StatusCode);

        var (_, entitlement) = await fx.Host.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/entitlements", OperatorA);
        Assert.Null((string?)entitlement!["override_plan_id"]);
        Assert.Equal(1, await AuditCountAsync(tenant, "approval.rejected"));
        Assert.Equal(0, await AuditCountAsync(tenant, "entitlement.override_set"));
    }

    [Fact]
    public async Task RetentionPassed_ThePurgeJobPurges_WithoutAnOperator()
    {
        var tenant = await fx.Host.CreateTenantAsync();
        var (asked, askedJson) = await fx.Host.SendAsync(HttpMethod.Delete, $"/tenants/{tenant}", OperatorA);
        Assert.Equal(HttpStatusCode.Accepted, asked.StatusCode);
        var (approved, approvedJson) = await fx.Host.SendAsync(HttpMethod.Post, $"/approvals/{(string)askedJson!["approval"]!["id"]!}/approve", OperatorB);
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        var purgeAfter = DateTimeOffset.Parse((string)approvedJson!["result"]!["purge_after"]!, System.Globalization.CultureInfo.InvariantCulture);

        await fx.Service<PurgeJob>().RunDueAsync(purgeAfter.AddSeconds(-1), Ct);
        Assert.Equal("deleting", await StatusAsync(tenant));
        await fx.Service<PurgeJob>().RunDueAsync(purgeAfter.AddSeconds(1), Ct);
        Assert.Equal("deleted", await StatusAsync(tenant));
        Assert.Equal(1, await AuditCountAsync(tenant, "tenant.purged"));
    }

    private async Task<string> StatusAsync(string tenant) =>
        await fx.Host.DbAsync(db => db.Tenants.Where(t => t.TenantId == tenant).Select(t => t.Status).SingleAsync(Ct));

    private async Task<int> AuditCountAsync(string tenant, string action) =>
        await fx.Host.DbAsync(db => db.AuditEntries.CountAsync(a => a.TenantId == tenant && a.Action == action, Ct));

    // The tenant's stored Stripe payloads: those attributed to it at receipt, and its customer's event (attributed by customer id).
    private async Task<string> PayloadsAsync(string tenant) => string.Join("\n", await fx.Host.DbAsync(db =>
        db.StripeEvents.Where(e => e.TenantId == tenant || e.EventId == "evt_cus_" + tenant).Select(e => e.Payload).ToListAsync(Ct)));

    private static async Task<Engine.Snapshots.Snapshot> WaitForSnapshotAsync(RedisSnapshotStore store, string tenant, Func<Engine.Snapshots.Snapshot, bool> predicate)
    {
        Engine.Snapshots.Snapshot? last = null;
        await WaitAsync(async () => (last = await store.GetAsync(new TenantKey("production", tenant), Ct)) is { } s && predicate(s));
        return last!;
    }

    // A generous functional deadline: the outbox publishes within milliseconds; how fast belongs to loadtests/.
    private static async Task WaitAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 10 s");
            await Task.Delay(20, Ct);
        }
    }
}
