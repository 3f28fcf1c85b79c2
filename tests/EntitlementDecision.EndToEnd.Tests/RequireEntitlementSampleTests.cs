using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using EntitlementDecision.Contracts.V1;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace EntitlementDecision.EndToEnd.Tests;

/// <summary>
/// samples/EntitlementDecision.Samples.ProductApi (in-process) asking the running sidecar through the client SDK, its callers
/// authenticated by dev-issuer bearer tokens: an entitled tenant gets 200, another 403 ProblemDetails naming the feature and the
/// reason, and the tenant is always the token's (an X-Tenant-Id header naming another is ignored). Token rejection without a
/// sidecar: tests/EntitlementDecision.Client.Tests/SampleAuthenticationTests.cs.
/// </summary>
public sealed class RequireEntitlementSampleTests(RunningSystem system) : IClassFixture<RunningSystem>
{
    private const string SigningKey = "e2e-sample-token-signing-key-0123456789abcdef";

    private WebApplicationFactory<Program> Sample() => new WebApplicationFactory<Program>()
        .WithWebHostBuilder(b => b.UseSetting("ED_SIDECAR_URL", system.SidecarUrl.ToString()).UseSetting("ED_TOKEN_SIGNING_KEY", SigningKey));

    // A member token of the tenant, as the control plane's mint-token signs it (here with the sample's key).
    private static string TokenOf(string tenant, string key = SigningKey) =>
        DevTokens.Mint(key, "e2e-sample", tenant, "member", DateTimeOffset.UtcNow, TimeSpan.FromHours(1));

    private static async Task<(HttpStatusCode Status, JsonNode? Body)> GetAsync(HttpClient http, string path, string? token, string? tenantHeader = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (tenantHeader is not null)
        {
            request.Headers.Add("X-Tenant-Id", tenantHeader);
        }

        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    /// <summary>A tenant on pro and one on the free baseline, both known to the sidecar.</summary>
    private async Task<(string Pro, string Free)> ProAndFreeTenantsAsync()
    {
        var pro = RunningSystem.NewTenantId();
        var free = RunningSystem.NewTenantId();
        await system.CreateTenantAsync(pro);
        await system.CreateTenantAsync(free);
        await system.OverrideWithApprovalAsync(pro, "pro");

        var (proAnswer, proAfter) = await system.WaitForAnswerAsync(pro, "advanced_reports", a => a.Allowed, RunningSystem.FunctionalDeadline);
        Assert.True(proAfter is not null, $"the override never reached the sidecar: {proAnswer}");
        var (freeAnswer, freeAfter) = await system.WaitForAnswerAsync(free, "projects", a => a.Reason != DecisionReason.UnknownTenant, RunningSystem.FunctionalDeadline);
        Assert.True(freeAfter is not null, $"the sidecar never learned of the free tenant: {freeAnswer}");
        return (pro, free);
    }

    [Fact]
    public async Task ProTenant200_FreeTenant403WithReason_UnknownTenant403_NoToken401()
    {
        var (pro, free) = await ProAndFreeTenantsAsync();
        await using var sample = Sample();
        using var http = sample.CreateClient();

        var granted = await GetAsync(http, "/api/reports/advanced", TokenOf(pro));
        var denied = await GetAsync(http, "/api/reports/advanced", TokenOf(free));
        var freeProjects = await GetAsync(http, "/api/projects", TokenOf(free));
        var unknown = await GetAsync(http, "/api/reports/advanced", TokenOf("nobody-" + Guid.NewGuid().ToString("N")[..8]));
        var anonymous = await GetAsync(http, "/api/reports/advanced", token: null, tenantHeader: pro);

        Assert.Equal(HttpStatusCode.OK, granted.Status);
        Assert.Equal(42, (int?)granted.Body!["rows"]);
        Assert.Equal(HttpStatusCode.Forbidden, denied.Status);
        Assert.Equal(("advanced_reports", "DECISION_REASON_NOT_IN_PLAN", false), ((string?)denied.Body!["feature"], (string?)denied.Body["reason"], (bool?)denied.Body["fallback"]));
        Assert.Equal(HttpStatusCode.OK, freeProjects.Status);
        Assert.Equal((HttpStatusCode.Forbidden, "DECISION_REASON_UNKNOWN_TENANT"), (unknown.Status, (string?)unknown.Body!["reason"]));
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.Status);
    }

    [Fact]
    public async Task FreeTenantsToken_HeaderNamingProTenant_IsCheckedAsTheFreeTenant()
    {
        var (pro, free) = await ProAndFreeTenantsAsync();
        await using var sample = Sample();
        using var http = sample.CreateClient();

        var asFree = await GetAsync(http, "/api/reports/advanced", TokenOf(free), tenantHeader: pro);
        var forgedKey = await GetAsync(http, "/api/reports/advanced", TokenOf(pro, key: "a-key-the-sample-does-not-know-0123456789ab"));
        var asPro = await GetAsync(http, "/api/reports/advanced", TokenOf(pro), tenantHeader: free);

        Assert.Equal((HttpStatusCode.Forbidden, "DECISION_REASON_NOT_IN_PLAN"), (asFree.Status, (string?)asFree.Body!["reason"]));
        Assert.Contains($"tenant '{free}'", (string?)asFree.Body["detail"], StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, forgedKey.Status);
        Assert.Equal(HttpStatusCode.OK, asPro.Status);
    }
}
