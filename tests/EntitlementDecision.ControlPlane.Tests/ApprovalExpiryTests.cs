using System.Net;
using EntitlementDecision.ControlPlane.Auth;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>The shipped governance (approval-first, report-only reconciliation) on a host whose clock the tests move.</summary>
public sealed class ApprovalExpiryWorld : StripeWorld
{
    public ApprovalExpiryWorld()
    {
        Overrides["ED_APPROVAL_REQUIRED"] = null;
        Overrides["ED_RECONCILE_AUTO_REPAIR"] = null;
        HostTime = Clock;
    }

    /// <summary>The system clock moved by what Advance added (timers and delays still run on the system's).</summary>
    public ShiftedClock Clock { get; } = new();
}

/// <summary>
/// An approval expires 72 h (ED_APPROVAL_TTL_HOURS default) after it is filed: until then a second operator can approve it; from
/// then on approving or rejecting answers 409, the approval reads expired (audited once) and its action never runs.
/// </summary>
public sealed class ApprovalExpiryTests(ApprovalExpiryWorld world) : IClassFixture<ApprovalExpiryWorld>
{
    private static readonly TimeSpan Ttl = TimeSpan.FromHours(72);

    private ControlPlaneFixture Fx => world.Host;

    // Tokens on the host's clock (the fixture's are on the system's and would have expired once the clock moved).
    private string Operator(string subject) => Fx.Tokens.Mint(subject, "platform", Roles.Operator, TimeSpan.FromMinutes(10), world.Clock.GetUtcNow());

    /// <summary>A new tenant whose deletion alice requested (202: approval-first); returns the tenant and the approval's id.</summary>
    private async Task<(string Tenant, string ApprovalId)> DeletionRequestedAsync()
    {
        var tenant = TestServices.NewTenantId();
        var (created, _) = await Fx.SendAsync(HttpMethod.Post, "/tenants", Operator("alice"), new Dictionary<string, string> { ["tenant_id"] = tenant, ["name"] = "Expiry " + tenant, ["environment"] = "production" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var filedAt = world.Clock.GetUtcNow();
        var (requested, filed) = await Fx.SendAsync(HttpMethod.Delete, $"/tenants/{tenant}", Operator("alice"));
        Assert.Equal(HttpStatusCode.Accepted, requested.StatusCode);
        var approval = filed!["approval"]!;
        var requestedAt = (DateTimeOffset)approval["requested_at"]!;
        Assert.InRange(requestedAt, filedAt, world.Clock.GetUtcNow());
        Assert.Equal(requestedAt + Ttl, (DateTimeOffset)approval["expires_at"]!);
        return (tenant, (string)approval["id"]!);
    }

    private async Task<string?> TenantStatusAsync(string tenant) =>
        (string?)(await Fx.SendAsync(HttpMethod.Get, $"/tenants/{tenant}", Operator("carol"))).Json?["status"];

    [Fact]
    public async Task AMinuteBeforeExpiry_TheApprovalIsStillPending_AndASecondOperatorCanApproveIt()
    {
        var (tenant, id) = await DeletionRequestedAsync();
        world.Clock.Advance(Ttl - TimeSpan.FromMinutes(1));

        var (_, queue) = await Fx.SendAsync(HttpMethod.Get, $"/approvals?tenant_id={tenant}", Operator("bob"));
        Assert.Equal(id, (string?)Assert.Single(queue!.AsArray())!["id"]);
        var (approved, decided) = await Fx.SendAsync(HttpMethod.Post, $"/approvals/{id}/approve", Operator("bob"));

        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        Assert.Equal(("executed", "operator:bob", 200), ((string)decided!["approval"]!["status"]!, (string)decided["approval"]!["decided_by"]!, (int)decided["approval"]!["result_status"]!));
        Assert.Equal("deleting", await TenantStatusAsync(tenant));
        var audit = await world.AuditAsync(tenant);
        Assert.Single(audit, e => e.Action == "tenant.delete_requested");
        Assert.DoesNotContain(audit, e => e.Action == "approval.expired");
    }

    [Fact]
    public async Task At72Hours_ApproveAnswers409_TheApprovalReadsExpired_AndNothingRuns()
    {
        var (tenant, id) = await DeletionRequestedAsync();
        world.Clock.Advance(Ttl);

        var (approved, problem) = await Fx.SendAsync(HttpMethod.Post, $"/approvals/{id}/approve", Operator("bob"));

        Assert.Equal(HttpStatusCode.Conflict, approved.StatusCode);
        Assert.Equal(("Approval expired", 409), ((string?)problem!["title"], (int?)problem["status"]));
        Assert.Contains("nothing was executed", (string)problem["detail"]!, StringComparison.Ordinal);
        Assert.Equal(Data.Approval.Expired, await Fx.DbAsync(db => db.Approvals.AsNoTracking().Where(a => a.Id == id).Select(a => a.Status).SingleAsync()));
        var (_, read) = await Fx.SendAsync(HttpMethod.Get, $"/approvals/{id}", Operator("bob"));
        Assert.Equal(("expired", null, null), ((string?)read!["status"], (string?)read["decided_by"], (int?)read["result_status"]));
        Assert.Equal("active", await TenantStatusAsync(tenant));

        // Decided now: a second approve and a reject answer 409 too, and the expiry stays audited once.
        var (again, againProblem) = await Fx.SendAsync(HttpMethod.Post, $"/approvals/{id}/approve", Operator("bob"));
        Assert.Equal((HttpStatusCode.Conflict, "Approval decided"), (again.StatusCode, (string?)againProblem!["title"]));
        Assert.Equal(HttpStatusCode.Conflict, (await Fx.SendAsync(HttpMethod.Post, $"/approvals/{id}/reject", Operator("bob"))).Response.StatusCode);
        Assert.Equal("active", await TenantStatusAsync(tenant));
        var audit = await world.AuditAsync(tenant);
        var expired = Assert.Single(audit, e => e.Action == "approval.expired");
        Assert.Equal(("system:approvals", $"approval:{id}"), (expired.Actor, expired.Cause));
        Assert.DoesNotContain(audit, e => e.Action is "tenant.delete_requested" or "approval.approved" or "approval.rejected");
    }

    [Fact]
    public async Task PastExpiry_ReadingTheApprovalMarksItExpired_AndTheQueueNoLongerOffersIt()
    {
        var (tenant, id) = await DeletionRequestedAsync();
        world.Clock.Advance(Ttl + TimeSpan.FromMinutes(1));

        var (_, read) = await Fx.SendAsync(HttpMethod.Get, $"/approvals/{id}", Operator("bob"));
        Assert.Equal("expired", (string?)read!["status"]);
        var (_, pending) = await Fx.SendAsync(HttpMethod.Get, $"/approvals?tenant_id={tenant}", Operator("bob"));
        Assert.Empty(pending!.AsArray());
        var (_, expired) = await Fx.SendAsync(HttpMethod.Get, $"/approvals?status=expired&tenant_id={tenant}", Operator("bob"));
        Assert.Equal(id, (string?)Assert.Single(expired!.AsArray())!["id"]);

        var (rejected, problem) = await Fx.SendAsync(HttpMethod.Post, $"/approvals/{id}/reject", Operator("bob"));
        Assert.Equal((HttpStatusCode.Conflict, "Approval decided"), (rejected.StatusCode, (string?)problem!["title"]));
        Assert.Equal("active", await TenantStatusAsync(tenant));
        Assert.Single(await world.AuditAsync(tenant), e => e.Action == "approval.expired");
    }
}
