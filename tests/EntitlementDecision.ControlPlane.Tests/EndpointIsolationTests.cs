using System.Net;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Data;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>
/// Tenant isolation for every endpoint the control plane maps, read from its route table, so that an endpoint added later is
/// covered without anyone remembering to: only the listed endpoints are anonymous; every other one answers 401 without a token;
/// every endpoint with a {tenantId} answers 403 to another tenant's owner and changes nothing of the tenant it names; every
/// state-changing /billing endpoint answers 403 to a member.
/// </summary>
public sealed class EndpointIsolationTests(ControlPlaneFixture fx) : IClassFixture<ControlPlaneFixture>
{
    /// <summary>The only endpoints without a bearer token: health, the public catalog, and Stripe's webhook (signature-checked).</summary>
    // The OpenAPI document is public too; so are Scalar's static pages, mapped in Development only (the test host's environment).
    private static readonly string[] Anonymous = ["GET /billing/checkout/canceled", "GET /billing/checkout/success", "GET /billing/portal/returned", "GET /catalog/plans", "GET /healthz", "GET /openapi/{documentName}.json", "POST /billing/webhook"];

    private sealed record Route(string Method, string Pattern, bool AllowsAnonymous)
    {
        public override string ToString() => $"{Method} {Pattern}";
    }

    // The admin console (/admin) is cookie-signed-in HTML over this same API; ConsoleApiTests and tests/browser cover it.
    private IReadOnlyList<Route> Routes() =>
        fx.Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => !("/" + e.RoutePattern.RawText!.TrimStart('/')).StartsWith("/admin", StringComparison.Ordinal))
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"])
                .Select(m => new Route(m, "/" + e.RoutePattern.RawText!.TrimStart('/'), e.Metadata.GetMetadata<IAllowAnonymous>() is not null)))
            .OrderBy(r => r.Pattern, StringComparer.Ordinal).ThenBy(r => r.Method, StringComparer.Ordinal)
            .ToList();

    /// <summary>A concrete URL for a route pattern: {tenantId} becomes <paramref name="tenant"/>, other parameters plausible values.</summary>
    private static string Url(Route route, string tenant)
    {
        var url = route.Pattern;
        foreach (var (name, value) in new[] { ("tenantId", tenant), ("environment", "production"), ("month", "2026-11"), ("eventId", "evt_isolation") })
        {
            url = System.Text.RegularExpressions.Regex.Replace(url, "\\{" + name + "(:[^}]*)?\\}", value);
        }

        return System.Text.RegularExpressions.Regex.Replace(url, "\\{[^}]+\\}", "1");
    }

    [Fact]
    public void AnonymousEndpoints_AreExactlyTheListedOnes()
    {
        var routes = Routes();

        Assert.True(routes.Count > 30, $"the route table looks incomplete: {routes.Count} routes");
        Assert.Equal(Anonymous, routes.Where(r => r.AllowsAnonymous && !r.Pattern.StartsWith("/scalar", StringComparison.Ordinal)).Select(r => r.ToString()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task EveryOtherEndpoint_WithoutAToken_Is401()
    {
        var tenant = await fx.CreateTenantAsync();
        var failures = new List<string>();
        foreach (var route in Routes().Where(r => !r.AllowsAnonymous))
        {
            var (response, _) = await fx.SendAsync(new HttpMethod(route.Method), Url(route, tenant), token: null, body: new { });
            if (response.StatusCode != HttpStatusCode.Unauthorized)
            {
                failures.Add($"{route}: {(int)response.StatusCode}");
            }
        }

        Assert.Empty(failures);
    }

    [Fact]
    public async Task EveryTenantEndpoint_ForAnotherTenantsOwner_Is403_AndChangesNothing()
    {
        var victim = await fx.CreateTenantAsync();
        var intruder = await fx.CreateTenantAsync();
        var before = await StateAsync(victim);
        var failures = new List<string>();
        var tenantRoutes = Routes().Where(r => r.Pattern.Contains("{tenantId", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(tenantRoutes);

        foreach (var route in tenantRoutes)
        {
            foreach (var role in new[] { Roles.Owner, Roles.Admin, Roles.Member })
            {
                var (response, _) = await fx.SendAsync(new HttpMethod(route.Method), Url(route, victim), fx.Token(role, intruder), body: new { plan_id = "business" });
                if (response.StatusCode != HttpStatusCode.Forbidden)
                {
                    failures.Add($"{route} as {role} of another tenant: {(int)response.StatusCode}");
                }
            }
        }

        Assert.Empty(failures);
        Assert.Equal(before, await StateAsync(victim));
    }

    [Fact]
    public async Task EveryStateChangingBillingEndpoint_ForAMember_Is403_AndChangesNothing()
    {
        var tenant = await fx.CreateTenantAsync();
        var before = await StateAsync(tenant);
        var failures = new List<string>();
        var billing = Routes().Where(r => r.Pattern.StartsWith("/billing/", StringComparison.Ordinal) && !r.AllowsAnonymous && r.Method != "GET").ToList();
        Assert.Contains(billing, r => r.Pattern == "/billing/checkout");
        Assert.Contains(billing, r => r.Pattern == "/billing/portal");

        foreach (var route in billing)
        {
            var (response, _) = await fx.SendAsync(new HttpMethod(route.Method), Url(route, tenant), fx.Token(Roles.Member, tenant), body: new { plan_id = "pro" });
            if (response.StatusCode != HttpStatusCode.Forbidden)
            {
                failures.Add($"{route} as member: {(int)response.StatusCode}");
            }
        }

        Assert.Empty(failures);
        Assert.Equal(before, await StateAsync(tenant));
    }

    /// <summary>What an intrusion could change: the entitlement rows (with their versions) and the audit trail of the tenant.</summary>
    private async Task<string> StateAsync(string tenant)
    {
        await using var scope = fx.Factory.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<EntitlementsDbContext>();
        var rows = await db.Entitlements.AsNoTracking().Where(e => e.TenantId == tenant).OrderBy(e => e.Environment)
            .Select(e => $"{e.Environment}:{e.Version}:{e.PlanId}:{e.StripeStatus}:{e.StripeCustomerId}").ToListAsync(TestContext.Current.CancellationToken);
        var audit = await db.AuditEntries.CountAsync(a => a.TenantId == tenant, TestContext.Current.CancellationToken);
        return string.Join(",", rows) + $"|audit={audit}";
    }
}
