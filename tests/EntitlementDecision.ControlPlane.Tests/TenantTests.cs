using System.Net;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.Engine.Snapshots;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Tests;

public sealed class TenantTests(ControlPlaneFixture fx) : IClassFixture<ControlPlaneFixture>
{
    [Fact]
    public async Task CreateTenant_Returns201_ThenSameIdReturns409()
    {
        var id = TestServices.NewTenantId();
        var body = new { tenant_id = id, name = "Acme", environment = "staging" };
        var (created, json) = await fx.SendAsync(HttpMethod.Post, "/tenants", fx.OperatorToken(), body);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal($"/tenants/{id}", created.Headers.Location?.OriginalString);
        Assert.Equal(id, (string?)json?["tenant_id"]);
        Assert.Equal("active", (string?)json?["status"]);
        Assert.Equal("staging", (string?)json?["environments"]?[0]);

        var row = await fx.EntitlementAsync(id, "staging");
        Assert.Equal(1, row.Version);
        Assert.Null(row.PlanId);
        Assert.Equal(1, await fx.DbAsync(db => db.OutboxMessages.CountAsync(o => o.TenantId == id)));
        Assert.Equal(1, await fx.DbAsync(db => db.AuditEntries.CountAsync(a => a.TenantId == id && a.Action == "tenant.created" && a.Actor == "operator:ops")));

        var (again, problem) = await fx.SendAsync(HttpMethod.Post, "/tenants", fx.OperatorToken(), body);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal(409, (int?)problem?["status"]);
        Assert.Equal(1, await fx.DbAsync(db => db.OutboxMessages.CountAsync(o => o.TenantId == id)));
    }

    [Fact]
    public async Task CreateTenant_Publishes_BaselineSnapshotVersion1()
    {
        var id = await fx.CreateTenantAsync();
        var snapshot = await fx.WaitForSnapshotAsync(id, _ => true);
        Assert.NotNull(snapshot);
        Assert.Equal(("free", PlanSource.Baseline, 1L), (snapshot.PlanId, snapshot.PlanSource, snapshot.Version));
    }

    [Fact]
    public async Task CreateTenant_InvalidFields_Returns400ValidationProblemListingThem()
    {
        var (response, json) = await fx.SendAsync(HttpMethod.Post, "/tenants", fx.OperatorToken(), new { tenant_id = "Not A Slug", name = "", environment = "UPPER" });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var errors = json!["errors"]!.AsObject();
        Assert.True(errors.ContainsKey("tenant_id"));
        Assert.True(errors.ContainsKey("name"));
        Assert.True(errors.ContainsKey("environment"));
    }

    [Fact]
    public async Task CreateTenant_MalformedJson_Returns400ProblemDetails()
    {
        var request = fx.Request(HttpMethod.Post, "/tenants", fx.OperatorToken());
        request.Content = new StringContent("{\"tenant_id\": 5,", System.Text.Encoding.UTF8, "application/json");
        var response = await fx.Client.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task GetAbsentTenant_Returns404ProblemDetails()
    {
        var (response, json) = await fx.SendAsync(HttpMethod.Get, "/tenants/no-such-tenant", fx.OperatorToken());
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(404, (int?)json?["status"]);
    }

    [Fact]
    public async Task CompThenOverride_ResolveInPrecedence_AndReachRedis()
    {
        var id = await fx.CreateTenantAsync();
        // Approval-first (the shipped default): each change is asked by one operator and approved by another.
        var (comp, compJson) = await fx.ApprovedAsync(HttpMethod.Put, $"/tenants/{id}/entitlements/production/comp", new { plan_id = "pro", comped = true });
        Assert.Equal(HttpStatusCode.OK, comp.StatusCode);
        Assert.Equal(("pro", "comped", true), ((string?)compJson?["plan_id"], (string?)compJson?["plan_source"], (bool?)compJson?["comped"]));
        Assert.Equal(2L, (long?)compJson?["version"]);

        var (ovr, ovrJson) = await fx.ApprovedAsync(HttpMethod.Put, $"/tenants/{id}/entitlements/production/override", new { plan_id = "business" });
        Assert.Equal(HttpStatusCode.OK, ovr.StatusCode);
        Assert.Equal(("business", "override"), ((string?)ovrJson?["plan_id"], (string?)ovrJson?["plan_source"]));
        var snapshot = await fx.WaitForSnapshotAsync(id, s => s.Version == 3);
        Assert.Equal(("business", PlanSource.Override, 3L), (snapshot?.PlanId, snapshot?.PlanSource, snapshot?.Version));

        var (cleared, clearedJson) = await fx.ApprovedAsync(HttpMethod.Put, $"/tenants/{id}/entitlements/production/override", new { plan_id = (string?)null });
        Assert.Equal(HttpStatusCode.OK, cleared.StatusCode);
        Assert.Equal(("pro", "comped"), ((string?)clearedJson?["plan_id"], (string?)clearedJson?["plan_source"]));
        Assert.Null(clearedJson?["override_plan_id"]);

        var (uncomp, uncompJson) = await fx.ApprovedAsync(HttpMethod.Put, $"/tenants/{id}/entitlements/production/comp", new { comped = false });
        Assert.Equal(HttpStatusCode.OK, uncomp.StatusCode);
        Assert.Equal(("free", "baseline"), ((string?)uncompJson?["plan_id"], (string?)uncompJson?["plan_source"]));

        Assert.Equal(4, await fx.DbAsync(db => db.AuditEntries.CountAsync(a => a.TenantId == id && a.Action.StartsWith("entitlement."))));
    }

    [Fact]
    public async Task CompOrOverrideWithUnknownPlan_Returns400_AndChangesNothing()
    {
        var id = await fx.CreateTenantAsync();
        var (comp, compJson) = await fx.SendAsync(HttpMethod.Put, $"/tenants/{id}/entitlements/production/comp", fx.OperatorToken(), new { plan_id = "platinum", comped = true });
        Assert.Equal(HttpStatusCode.BadRequest, comp.StatusCode);
        Assert.True(compJson!["errors"]!.AsObject().ContainsKey("plan_id"));
        var (ovr, _) = await fx.SendAsync(HttpMethod.Put, $"/tenants/{id}/entitlements/production/override", fx.OperatorToken(), new { plan_id = "platinum" });
        Assert.Equal(HttpStatusCode.BadRequest, ovr.StatusCode);
        Assert.Equal(1, (await fx.EntitlementAsync(id)).Version);
    }

    [Fact]
    public async Task OverrideOfUnknownTenant_Returns404()
    {
        var (response, _) = await fx.SendAsync(HttpMethod.Put, "/tenants/nobody-here/entitlements/production/override", fx.OperatorToken(), new { plan_id = "pro" });
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task BillingEntitlements_ReturnsCallersTenant_WithComp()
    {
        var mine = await fx.CreateTenantAsync();
        var other = await fx.CreateTenantAsync();
        await fx.ApprovedAsync(HttpMethod.Put, $"/tenants/{mine}/entitlements/production/comp", new { plan_id = "pro", comped = true });

        // a tenant id in the query is ignored: the tenant comes from the token only
        var (response, json) = await fx.SendAsync(HttpMethod.Get, $"/billing/entitlements?environment=production&tenant_id={other}", fx.Token(Roles.Member, mine));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(mine, (string?)json?["tenant_id"]);
        Assert.Equal("production", (string?)json?["environment"]);
        Assert.True((bool?)json?["comped"]);
        Assert.Equal("pro", (string?)json?["plan_id"]);
        Assert.Equal("comped", (string?)json?["plan_source"]);
        Assert.Equal("2026-11-21.2", (string?)json?["catalog_version"]);
        var apiCalls = json!["features"]!.AsArray().Single(f => (string?)f!["key"] == "api_calls")!;
        Assert.Equal(100000L, (long?)apiCalls["limit"]);
        Assert.Equal("month", (string?)apiCalls["reset_period"]);

        var (missing, _) = await fx.SendAsync(HttpMethod.Get, "/billing/entitlements?environment=staging", fx.Token(Roles.Member, mine));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task SuspendThenResume_BumpsVersion_AndSnapshotShowsSuspension()
    {
        var id = await fx.CreateTenantAsync();
        var (suspend, json) = await fx.SendAsync(HttpMethod.Post, $"/tenants/{id}/suspend", fx.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, suspend.StatusCode);
        Assert.Equal("suspended", (string?)json?["status"]);
        var snapshot = await fx.WaitForSnapshotAsync(id, s => s.Version == 2);
        Assert.True(snapshot?.Suspended);

        var (again, _) = await fx.SendAsync(HttpMethod.Post, $"/tenants/{id}/suspend", fx.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(2, (await fx.EntitlementAsync(id)).Version);

        await fx.SendAsync(HttpMethod.Post, $"/tenants/{id}/resume", fx.OperatorToken());
        snapshot = await fx.WaitForSnapshotAsync(id, s => s.Version == 3);
        Assert.False(snapshot?.Suspended);
        Assert.Equal(3, snapshot?.Version);
    }

    [Fact]
    public async Task CatalogPlans_Anonymous_ListsPlansWithPricesAndFeatures()
    {
        var (response, json) = await fx.SendAsync(HttpMethod.Get, "/catalog/plans", token: null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("2026-11-21.2", (string?)json?["version"]);
        Assert.Equal(64, ((string?)json?["content_hash"])?.Length);
        var pro = json!["plans"]!.AsArray().Single(p => (string?)p!["id"] == "pro")!;
        Assert.Equal(TestServices.ProPrice, (string?)pro["prices"]?[0]?["id"]);
        Assert.Equal(14, (int?)pro["trial_days"]);
        var business = json["plans"]!.AsArray().Single(p => (string?)p!["id"] == "business")!;
        var apiCalls = business["features"]!.AsArray().Single(f => (string?)f!["key"] == "api_calls")!;
        Assert.Null(apiCalls["limit"]);
        Assert.Equal("metered", (string?)apiCalls["kind"]);
    }

    [Fact]
    public async Task Healthz_Returns200_WhenPostgresAndRedisAnswer()
    {
        var (response, json) = await fx.SendAsync(HttpMethod.Get, "/healthz", token: null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("healthy", (string?)json?["status"]);
    }
}
