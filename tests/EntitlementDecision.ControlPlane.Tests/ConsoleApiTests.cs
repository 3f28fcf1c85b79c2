using System.Net;
using EntitlementDecision.ControlPlane.Auth;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>What the admin console stands on: the support role (reads any tenant, acts on none), tenant regions and data
/// residency, the tenant list's filters, whoami, and the console's sign-in gate. The screens themselves are driven in chromium by
/// tests/browser/console.mjs.</summary>
public sealed class ConsoleApiTests(ControlPlaneFixture fx) : IClassFixture<ControlPlaneFixture>
{
    private string SupportToken() => fx.Token(Roles.Support, "platform", "helpdesk");

    [Fact]
    public async Task Support_ReadsAnyTenant_ButEveryActionIs403_AndNothingChanges()
    {
        var id = await fx.CreateTenantAsync();
        var support = SupportToken();
        foreach (var url in new[] { $"/tenants/{id}", $"/tenants/{id}/entitlements", $"/tenants/{id}/audit", $"/tenants/{id}/dossier",
                     $"/tenants/{id}/invoices", $"/tenants/{id}/notices", "/approvals", "/billing/webhooks/events", "/billing/reconciliation/runs", "/tenants" })
        {
            var (read, _) = await fx.SendAsync(HttpMethod.Get, url, support);
            Assert.True(read.StatusCode == HttpStatusCode.OK, $"GET {url}: {(int)read.StatusCode}");
        }

        var actions = new (HttpMethod Method, string Url, object? Body)[]
        {
            (HttpMethod.Post, $"/tenants/{id}/suspend", null),
            (HttpMethod.Delete, $"/tenants/{id}", null),
            (HttpMethod.Put, $"/tenants/{id}/entitlements/production/comp", new { plan_id = "pro", comped = true }),
            (HttpMethod.Put, $"/tenants/{id}/entitlements/production/override", new { plan_id = "business" }),
            (HttpMethod.Post, "/billing/reconciliation/runs", new { tenant_id = id }),
            (HttpMethod.Post, "/tenants", new { tenant_id = TestServices.NewTenantId(), name = "X", environment = "production" }),
            (HttpMethod.Post, "/usage/events", new { tenant_id = id, environment = "production", feature = "api_calls", quantity = 1, idempotency_key = Guid.NewGuid().ToString() }),
        };
        foreach (var (method, url, body) in actions)
        {
            var (acted, _) = await fx.SendAsync(method, url, support, body);
            Assert.True(acted.StatusCode == HttpStatusCode.Forbidden, $"{method} {url}: {(int)acted.StatusCode}");
        }

        var (tenant, json) = await fx.SendAsync(HttpMethod.Get, $"/tenants/{id}", fx.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, tenant.StatusCode);
        Assert.Equal("active", (string?)json?["status"]);
        Assert.Equal(0, await fx.DbAsync(db => db.Approvals.CountAsync(a => a.TenantId == id)));
        Assert.Equal(1, await fx.DbAsync(db => db.AuditEntries.CountAsync(a => a.TenantId == id)));
    }

    [Fact]
    public async Task CreateTenant_RegionDefaultsToTheDeployment_AndResidencyMustHoldTheHomeRegion()
    {
        var id = await fx.CreateTenantAsync();
        var (_, plain) = await fx.SendAsync(HttpMethod.Get, $"/tenants/{id}", fx.OperatorToken());
        Assert.Equal("local", (string?)plain?["region"]);
        Assert.Equal(["local"], plain!["allowed_regions"]!.AsArray().Select(r => (string?)r));

        var eu = TestServices.NewTenantId();
        var (created, json) = await fx.SendAsync(HttpMethod.Post, "/tenants", fx.OperatorToken(),
            new { tenant_id = eu, name = "EU Ltd", environment = "production", region = "eu-west-1", allowed_regions = new[] { "eu-west-1", "eu-central-1" } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("eu-west-1", (string?)json?["region"]);
        Assert.Equal(["eu-west-1", "eu-central-1"], json!["allowed_regions"]!.AsArray().Select(r => (string?)r));

        var bad = TestServices.NewTenantId();
        var (refused, problem) = await fx.SendAsync(HttpMethod.Post, "/tenants", fx.OperatorToken(),
            new { tenant_id = bad, name = "Bad", environment = "production", region = "eu-west-1", allowed_regions = new[] { "us-east-1" } });
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.True(problem!["errors"]!.AsObject().ContainsKey("allowed_regions"));
        var (badRegion, regionProblem) = await fx.SendAsync(HttpMethod.Post, "/tenants", fx.OperatorToken(),
            new { tenant_id = bad, name = "Bad", environment = "production", region = "EU West" });
        Assert.Equal(HttpStatusCode.BadRequest, badRegion.StatusCode);
        Assert.True(regionProblem!["errors"]!.AsObject().ContainsKey("region"));
        Assert.Equal(0, await fx.DbAsync(db => db.Tenants.CountAsync(t => t.TenantId == bad)));
    }

    [Fact]
    public async Task ListTenants_FiltersByRegionSearchStatusPlanAndAccessMode()
    {
        var region = "r-" + Guid.NewGuid().ToString("N")[..10];
        var op = fx.OperatorToken();
        async Task<string> Create(string name)
        {
            var id = TestServices.NewTenantId();
            var (created, _) = await fx.SendAsync(HttpMethod.Post, "/tenants", op, new { tenant_id = id, name, environment = "production", region });
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            return id;
        }
        var alpha = await Create("Alpha Widgets");
        var beta = await Create("Beta Gadgets");
        var gamma = await Create("Gamma Gadgets");
        Assert.Equal(HttpStatusCode.OK, (await fx.SendAsync(HttpMethod.Post, $"/tenants/{gamma}/suspend", op)).Response.StatusCode);

        async Task<string[]> Ids(string query)
        {
            var (response, json) = await fx.SendAsync(HttpMethod.Get, $"/tenants?region={region}{query}", op);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return json!.AsArray().Select(t => (string)t!["tenant_id"]!).Order(StringComparer.Ordinal).ToArray();
        }
        Assert.Equal(new[] { alpha, beta, gamma }.Order(StringComparer.Ordinal), await Ids(""));
        Assert.Equal(new[] { beta, gamma }.Order(StringComparer.Ordinal), await Ids("&q=GADGETS"));
        Assert.Equal([gamma], await Ids("&status=suspended"));
        Assert.Equal([gamma], await Ids("&access_mode=suspended"));
        Assert.Equal(new[] { alpha, beta }.Order(StringComparer.Ordinal), await Ids("&access_mode=full&plan=free"));
        Assert.Empty(await Ids("&plan=business"));
        Assert.Single(await Ids("&limit=1"));

        var (first, list) = await fx.SendAsync(HttpMethod.Get, $"/tenants?region={region}&q=alpha", op);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var row = list!.AsArray().Single()!;
        Assert.Equal(("free", "baseline", "full"), ((string?)row["plan_id"], (string?)row["plan_source"], (string?)row["access_mode"]));

        Assert.Equal(HttpStatusCode.BadRequest, (await fx.SendAsync(HttpMethod.Get, "/tenants?access_mode=sideways", op)).Response.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await fx.SendAsync(HttpMethod.Get, "/tenants?limit=0", op)).Response.StatusCode);
    }

    [Fact]
    public async Task WhoAmI_AnswersTheTokensIdentity_AndNeedsOne()
    {
        var (response, json) = await fx.SendAsync(HttpMethod.Get, "/auth/whoami", SupportToken());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(("helpdesk", "support"), ((string?)json?["subject"], (string?)json?["role"]));
        Assert.NotNull((string?)json?["expires_at"]);
        Assert.Equal(HttpStatusCode.Unauthorized, (await fx.SendAsync(HttpMethod.Get, "/auth/whoami", null)).Response.StatusCode);
    }

    [Fact]
    public async Task Console_SendsAnonymousVisitorsToSignIn_RefusesTenantRoles_AndSignsInAnOperator()
    {
        var ct = TestContext.Current.CancellationToken;
        var id = await fx.CreateTenantAsync();
        using (var anonymous = fx.Factory.CreateClient(new() { AllowAutoRedirect = false }))
        {
            var tenants = await anonymous.GetAsync("/admin/tenants", ct);
            Assert.Equal(HttpStatusCode.Redirect, tenants.StatusCode);
            Assert.StartsWith("/admin/sign-in", tenants.Headers.Location?.OriginalString.Replace("http://localhost", ""));
        }

        // An owner's token is valid for the API but is no staff identity: the console refuses it and sets no session cookie.
        var (ownerPage, ownerCookies) = await SignInAsync(fx.Token(Roles.Owner, id), ct);
        Assert.Equal(HttpStatusCode.OK, ownerPage.StatusCode);
        Assert.DoesNotContain(ownerCookies, c => c.StartsWith("ed_admin=", StringComparison.Ordinal));

        var (signedIn, cookies) = await SignInAsync(fx.OperatorToken(), ct);
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        var session = Assert.Single(cookies, c => c.StartsWith("ed_admin=", StringComparison.Ordinal));
        Assert.Contains("httponly", session, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", session, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(1, await fx.DbAsync(db => db.AuditEntries.CountAsync(a => a.TenantId == "_system" && a.Action == "console.signed_in" && a.Actor == "operator:ops")));

        using var client = fx.Factory.CreateClient(new() { AllowAutoRedirect = false });
        var request = new HttpRequestMessage(HttpMethod.Get, $"/admin/tenants/{id}");
        request.Headers.Add("Cookie", session.Split(';')[0]);
        var detail = await client.SendAsync(request, ct);
        Assert.Equal(HttpStatusCode.OK, detail.StatusCode);
        Assert.Contains("no-store", detail.Headers.CacheControl?.ToString() ?? "");
        var html = await detail.Content.ReadAsStringAsync(ct);
        Assert.Contains(id, html);
        Assert.Contains("Suspend", html);
        Assert.DoesNotContain(fx.OperatorToken()[..20], html);
    }

    /// <summary>GET /admin/sign-in for its antiforgery token and cookie, then POST the token; the POST's answer and its Set-Cookie values.</summary>
    private async Task<(HttpResponseMessage Response, string[] Cookies)> SignInAsync(string token, CancellationToken ct)
    {
        using var client = fx.Factory.CreateClient(new() { AllowAutoRedirect = false });
        var page = await client.GetAsync("/admin/sign-in", ct);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("frame-ancestors 'none'", string.Join(";", page.Headers.GetValues("Content-Security-Policy")));
        var html = await page.Content.ReadAsStringAsync(ct);
        var antiforgery = System.Text.RegularExpressions.Regex.Match(html, "name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"").Groups[1].Value;
        Assert.NotEmpty(antiforgery);
        var request = new HttpRequestMessage(HttpMethod.Post, "/admin/sign-in")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = token, ["__RequestVerificationToken"] = antiforgery }),
        };
        request.Headers.Add("Cookie", string.Join("; ", page.Headers.GetValues("Set-Cookie").Select(c => c.Split(';')[0])));
        var response = await client.SendAsync(request, ct);
        return (response, response.Headers.TryGetValues("Set-Cookie", out var set) ? set.ToArray() : []);
    }
}
