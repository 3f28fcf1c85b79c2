using System.Buffers.Text;
using System.Net;
using System.Text;
using EntitlementDecision.ControlPlane.Auth;

namespace EntitlementDecision.ControlPlane.Tests;

public sealed class AuthorizationTests(ControlPlaneFixture fx) : IClassFixture<ControlPlaneFixture>
{
    [Fact]
    public async Task NoToken_Returns401ProblemDetails()
    {
        var (response, json) = await fx.SendAsync(HttpMethod.Get, "/tenants", token: null);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(401, (int?)json?["status"]);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
    }

    [Fact]
    public async Task TokenWithBadSignature_Returns401()
    {
        var other = new BearerTokens("a-completely-different-signing-key-0123456789", TimeProvider.System);
        var (response, _) = await fx.SendAsync(HttpMethod.Get, "/tenants", other.Mint("ops", "platform", Roles.Operator, TimeSpan.FromMinutes(5)));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task AlgNoneToken_Returns401()
    {
        var claims = $$"""{"iss":"entitlementdecision-dev","aud":"entitlementdecision","sub":"x","role":"operator","iat":{{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}},"exp":{{DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds()}}}""";
        var token = Base64Url.EncodeToString("""{"alg":"none"}"""u8) + "." + Base64Url.EncodeToString(Encoding.UTF8.GetBytes(claims)) + ".";
        var (response, _) = await fx.SendAsync(HttpMethod.Get, "/tenants", token);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task ExpiredToken_Returns401()
    {
        var token = fx.Tokens.Mint("ops", "platform", Roles.Operator, TimeSpan.FromMinutes(5), DateTimeOffset.UtcNow.AddHours(-1));
        var (response, _) = await fx.SendAsync(HttpMethod.Get, "/tenants", token);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [InlineData(Roles.Member)]
    [InlineData(Roles.Owner)]
    public async Task TenantRoleOnOperatorEndpoint_Returns403ProblemDetails(string role)
    {
        var tenant = await fx.CreateTenantAsync();
        var (response, json) = await fx.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/suspend", fx.Token(role, tenant));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(403, (int?)json?["status"]);
        var (create, _) = await fx.SendAsync(HttpMethod.Post, "/tenants", fx.Token(role, tenant), new { tenant_id = TestServices.NewTenantId(), name = "x" });
        Assert.Equal(HttpStatusCode.Forbidden, create.StatusCode);
    }

    [Fact]
    public async Task OwnerOfA_ReadingTenantB_Returns403_AndListsOnlyA()
    {
        var a = await fx.CreateTenantAsync();
        var b = await fx.CreateTenantAsync();
        var ownerA = fx.Token(Roles.Owner, a);

        var (own, ownJson) = await fx.SendAsync(HttpMethod.Get, $"/tenants/{a}", ownerA);
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        Assert.Equal(a, (string?)ownJson?["tenant_id"]);

        var (other, _) = await fx.SendAsync(HttpMethod.Get, $"/tenants/{b}", ownerA);
        Assert.Equal(HttpStatusCode.Forbidden, other.StatusCode);

        var (list, listJson) = await fx.SendAsync(HttpMethod.Get, "/tenants", ownerA);
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Equal([a], listJson!.AsArray().Select(t => (string)t!["tenant_id"]!).ToArray());

        var (all, allJson) = await fx.SendAsync(HttpMethod.Get, "/tenants", fx.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, all.StatusCode);
        var ids = allJson!.AsArray().Select(t => (string)t!["tenant_id"]!).ToList();
        Assert.Contains(a, ids);
        Assert.Contains(b, ids);
    }

    [Fact]
    public async Task OperatorOnBillingEntitlements_Returns403()
    {
        var (response, _) = await fx.SendAsync(HttpMethod.Get, "/billing/entitlements", fx.OperatorToken());
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }
}
