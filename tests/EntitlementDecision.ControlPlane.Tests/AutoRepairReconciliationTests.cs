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

/// <summary>Reconciliation in the opt-in auto-repair mode (the shipped default, report-only with approvals, is ApprovalFlowTests).</summary>
public sealed class AutoRepairWorld : StripeWorld
{
    public AutoRepairWorld() => Overrides["ED_RECONCILE_AUTO_REPAIR"] = "true";
}

/// <summary>Drift planted in Stripe is found, repaired at once like a webhook, and reported as JSON and CSV.</summary>
public sealed class AutoRepairReconciliationTests(AutoRepairWorld world) : IClassFixture<AutoRepairWorld>
{
    private ControlPlaneFixture Fx => world.Host;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(Snapshot Snapshot, Decision Decision)> PublishedAsync(ControlPlaneFixture fx, string tenant, long version)
    {
        var snapshot = await fx.WaitForSnapshotAsync(tenant, s => s.Version >= version);
        Assert.NotNull(snapshot);
        Assert.Equal(version, snapshot.Version);
        return (snapshot, Evaluator.Evaluate(snapshot, "advanced_reports", 1, 0, DateTimeOffset.UtcNow));
    }

    [Fact]
    public async Task Reconciliation_FindsRepairsAndReportsPlantedDrift()
    {
        // Tenant A: Stripe canceled the subscription, the webhook never arrived. Tenant B: the price changed in Stripe only.
        var a = await Fx.CreateTenantAsync();
        var b = await Fx.CreateTenantAsync();
        var clean = await Fx.CreateTenantAsync();
        var (subA, eventsA) = await world.SubscribeAsync(a);
        var (subB, eventsB) = await world.SubscribeAsync(b);
        var (_, eventsClean) = await world.SubscribeAsync(clean);
        await world.DeliverAsync(eventsA.Concat(eventsB).Concat(eventsClean));
        Assert.Equal(("active", "pro"), ((await world.RowAsync(a)).StripeStatus, (await world.RowAsync(a)).PlanId));
        await world.Stripe.State.DeleteSubscriptionAsync(subA, Ct);
        var item = (string)world.Subscription(subB)["items"]!["data"]![0]!["id"]!;
        await world.Api.UpdateSubscriptionAsync(subB, new UpdateSubscriptionRequest(ItemId: item, PriceId: "price_1PgbusinessMonthlyDev01"), "drift-" + subB, Ct);
        var versionA = (await world.RowAsync(a)).Version;

        Assert.Equal(HttpStatusCode.Forbidden, (await Fx.SendAsync(HttpMethod.Post, "/billing/reconciliation/runs", Fx.Token(Roles.Owner, a), new { })).Response.StatusCode);
        var (response, report) = await Fx.SendAsync(HttpMethod.Post, "/billing/reconciliation/runs", Fx.OperatorToken(), new { });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var run = report!["run"]!;
        var runId = (long)run["id"]!;
        Assert.Equal("completed", (string?)run["status"]);
        var mismatches = report["mismatches"]!.AsArray().Select(m => ((string)m!["tenant_id"]!, (string)m["field"]!, (string?)m["ours"], (string?)m["stripe"], (string)m["action"]!)).ToList();
        Assert.Contains((a, "status", "active", "canceled", "repaired"), mismatches);
        Assert.Contains((b, "plan", "pro", "business", "repaired"), mismatches);
        Assert.DoesNotContain(mismatches, m => m.Item1 == clean);
        Assert.True((int)run["repaired"]! >= 2);
        Assert.True((int)run["drift_counts"]!["status"]! >= 1 && (int)run["drift_counts"]!["plan"]! >= 1);

        // Repaired like a webhook: Stripe's state, a new version in Redis, audited with the run as cause.
        var rowA = await world.RowAsync(a);
        Assert.Equal(("canceled", versionA + 1), (rowA.StripeStatus, rowA.Version));
        Assert.Equal("business", (await world.RowAsync(b)).PlanId);
        var (snapshotA, decisionA) = await PublishedAsync(Fx, a, rowA.Version);
        Assert.Equal(("free", false), (snapshotA.PlanId, decisionA.Allowed));
        var repair = Assert.Single(await world.AuditAsync(a), e => e.Actor == "reconciliation");
        Assert.Equal(($"reconciliation:{runId}", "reconciliation.repair"), (repair.Cause, repair.Action));

        // Downloadable: JSON and CSV.
        var (json, jsonReport) = await Fx.SendAsync(HttpMethod.Get, $"/billing/reconciliation/runs/{runId}/report.json", Fx.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, json.StatusCode);
        Assert.Equal(report["mismatches"]!.AsArray().Count, jsonReport!["mismatches"]!.AsArray().Count);
        var csvResponse = await Fx.Client.SendAsync(Fx.Request(HttpMethod.Get, $"/billing/reconciliation/runs/{runId}/report.csv", Fx.OperatorToken()), Ct);
        Assert.Equal(HttpStatusCode.OK, csvResponse.StatusCode);
        Assert.Equal("text/csv", csvResponse.Content.Headers.ContentType?.MediaType);
        var lines = (await csvResponse.Content.ReadAsStringAsync(Ct)).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Reconciliation.ReconciliationEndpoints.CsvHeader, lines[0]);
        Assert.Contains($"{runId},{a},production,{subA},status,active,canceled,repaired", lines);
        Assert.Contains(lines, l => l.StartsWith($"{runId},{b},production,{subB},plan,pro,business,repaired", StringComparison.Ordinal));
        Assert.Equal(report["mismatches"]!.AsArray().Count + 1, lines.Length);

        // A second run for one tenant finds nothing left.
        var (again, againReport) = await Fx.SendAsync(HttpMethod.Post, $"/tenants/{a}/reconcile", Fx.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal((1, 0), ((int)againReport!["run"]!["checked"]!, againReport["mismatches"]!.AsArray().Count));
        Assert.Equal(HttpStatusCode.NotFound, (await Fx.SendAsync(HttpMethod.Post, "/tenants/no-such-tenant/reconcile", Fx.OperatorToken())).Response.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Fx.SendAsync(HttpMethod.Get, "/billing/reconciliation/runs/999999/report.csv", Fx.OperatorToken())).Response.StatusCode);
    }
}
