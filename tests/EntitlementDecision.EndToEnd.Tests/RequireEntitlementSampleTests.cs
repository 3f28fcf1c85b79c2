using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using EntitlementDecision.Contracts.V1;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace EntitlementDecision.EndToEnd.Tests;

/// <summary>
/// samples/EntitlementDecision.Samples.ProductApi (in-process) asking the running sidecar through the client SDK: an entitled tenant
/// gets 200, another 403 ProblemDetails naming the feature and the reason.
/// </summary>
public sealed class RequireEntitlementSampleTests(RunningSystem system) : IClassFixture<RunningSystem>
{
    private WebApplicationFactory<Program> Sample() => new WebApplicationFactory<Program>()
        .WithWebHostBuilder(b => b.UseSetting("ED_SIDECAR_URL", system.SidecarUrl.ToString()));

    [Fact]
    public async Task ProTenant200_FreeTenant403WithReason_UnknownTenant403_NoTenant401()
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

        await using var sample = Sample();
        using var http = sample.CreateClient();
        async Task<(HttpStatusCode Status, JsonNode? Body)> Get(string path, string? tenant)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            if (tenant is not null)
            {
                request.Headers.Add("X-Tenant-Id", tenant);
            }

            using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
            var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
        }

        var granted = await Get("/api/reports/advanced", pro);
        var denied = await Get("/api/reports/advanced", free);
        var freeProjects = await Get("/api/projects", free);
        var unknown = await Get("/api/reports/advanced", "nobody-" + Guid.NewGuid().ToString("N")[..8]);
        var anonymous = await Get("/api/reports/advanced", null);

        Assert.Equal(HttpStatusCode.OK, granted.Status);
        Assert.Equal(42, (int?)granted.Body!["rows"]);
        Assert.Equal(HttpStatusCode.Forbidden, denied.Status);
        Assert.Equal(("advanced_reports", "DECISION_REASON_NOT_IN_PLAN", false), ((string?)denied.Body!["feature"], (string?)denied.Body["reason"], (bool?)denied.Body["fallback"]));
        Assert.Equal(HttpStatusCode.OK, freeProjects.Status);
        Assert.Equal((HttpStatusCode.Forbidden, "DECISION_REASON_UNKNOWN_TENANT"), (unknown.Status, (string?)unknown.Body!["reason"]));
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.Status);
    }
}
