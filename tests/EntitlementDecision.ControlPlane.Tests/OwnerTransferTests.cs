using System.Net;
using EntitlementDecision.ControlPlane.Auth;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>Billing-owner transfer: requested by the owner, accepted by the named admin, then the admin acts as owner and the old owner as admin.</summary>
public sealed class OwnerTransferTests(ControlPlaneFixture fx) : IClassFixture<ControlPlaneFixture>
{
    [Fact]
    public async Task OwnerHandsOverToAnAdmin_BothConfirm_OwnerOnlyActionsFollowTheNewOwner()
    {
        var tenant = await fx.CreateTenantAsync();
        var alice = fx.Token(Roles.Owner, tenant, "alice");
        var bob = fx.Token(Roles.Admin, tenant, "bob");
        var carol = fx.Token(Roles.Admin, tenant, "carol");
        const string url = "https://notices.example.test/hook";
        Assert.Equal(HttpStatusCode.Forbidden, (await fx.SendAsync(HttpMethod.Put, "/billing/notices/endpoint", bob, new { url })).Response.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await fx.SendAsync(HttpMethod.Post, "/billing/owner/transfer", bob, new { to_subject = "bob" })).Response.StatusCode);

        var (asked, transfer) = await fx.SendAsync(HttpMethod.Post, "/billing/owner/transfer", alice, new { to_subject = "bob" });
        Assert.Equal(HttpStatusCode.OK, asked.StatusCode);
        var id = (string)transfer!["id"]!;
        Assert.Equal(HttpStatusCode.Forbidden, (await fx.SendAsync(HttpMethod.Post, $"/billing/owner/transfer/{id}/accept", carol)).Response.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await fx.SendAsync(HttpMethod.Post, $"/billing/owner/transfer/{id}/accept", alice)).Response.StatusCode);
        var (accepted, acceptedJson) = await fx.SendAsync(HttpMethod.Post, $"/billing/owner/transfer/{id}/accept", bob);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.Equal("accepted", (string)acceptedJson!["status"]!);
        Assert.Equal(HttpStatusCode.Conflict, (await fx.SendAsync(HttpMethod.Post, $"/billing/owner/transfer/{id}/accept", carol)).Response.StatusCode); // decided

        // bob's admin token now acts as owner; alice's owner token as admin.
        Assert.Equal(HttpStatusCode.OK, (await fx.SendAsync(HttpMethod.Put, "/billing/notices/endpoint", bob, new { url })).Response.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await fx.SendAsync(HttpMethod.Put, "/billing/notices/endpoint", alice, new { url })).Response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await fx.SendAsync(HttpMethod.Get, "/billing/entitlements", alice)).Response.StatusCode);
        var (_, owner) = await fx.SendAsync(HttpMethod.Get, "/billing/owner", alice);
        Assert.Equal("bob", (string)owner!["owner_subject"]!);
        var (_, audit) = await fx.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/audit?action=billing.owner_transferred", fx.OperatorToken());
        var entry = audit!["entries"]!.AsArray().Single()!;
        Assert.Equal(("admin:bob", "alice", "bob"), ((string)entry["actor"]!, (string)entry["before"]!["owner"]!, (string)entry["after"]!["owner"]!));
    }
}
