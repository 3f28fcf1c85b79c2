using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using EntitlementDecision.Client;
using EntitlementDecision.Contracts.V1;

namespace EntitlementDecision.EndToEnd.Tests;

/// <summary>The tenant lifecycle as the running sidecar answers it: suspend, reactivate, delete approved by a second operator.</summary>
public sealed class LifecycleToSidecarTests(RunningSystem system) : IClassFixture<RunningSystem>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SuspendDeniesReactivateRestoresApprovedDeleteDenies()
    {
        var tenant = RunningSystem.NewTenantId();
        var version = await system.CreateTenantAsync(tenant);
        Assert.True((await CheckAsync(tenant, version)).Allowed);

        using var suspend = await system.ControlPlane.PostAsync($"/tenants/{tenant}/suspend", null, Ct);
        var suspended = await CheckAsync(tenant, await VersionAsync(suspend));
        Assert.Equal(DecisionReason.TenantSuspended, suspended.Reason);

        using var resume = await system.ControlPlane.PostAsync($"/tenants/{tenant}/resume", null, Ct);
        var resumed = await CheckAsync(tenant, await VersionAsync(resume));
        Assert.True(resumed.Allowed);

        using var delete = await system.ControlPlane.DeleteAsync($"/tenants/{tenant}", Ct);
        Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        var id = (string)(await delete.Content.ReadFromJsonAsync<JsonObject>(Ct))!["approval"]!["id"]!;
        Assert.True((await system.CheckAsync(tenant, "projects")).Allowed); // nothing changes before the approval
        using var own = await system.ControlPlane.PostAsync($"/approvals/{id}/approve", null, Ct);
        Assert.Equal(HttpStatusCode.Forbidden, own.StatusCode);
        using var approve = await system.SecondOperator.PostAsync($"/approvals/{id}/approve", null, Ct);
        var result = (await approve.Content.ReadFromJsonAsync<JsonObject>(Ct))!["result"]!;
        Assert.Equal("deleting", (string)result["tenant"]!["status"]!);

        var deleted = await CheckAsync(tenant, (long)result["tenant"]!["snapshot_versions"]!["production"]!);
        Assert.Equal(DecisionReason.TenantSuspended, deleted.Reason);
    }

    private async Task<CheckResult> CheckAsync(string tenant, long minVersion)
    {
        var result = await system.Sidecar.CheckAsync(new EntitlementCheck(tenant, "projects", MinSnapshotVersion: minVersion), Ct);
        Assert.False(result.Fallback, result.FallbackCause);
        return result;
    }

    private static async Task<long> VersionAsync(HttpResponseMessage response) =>
        (long)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["snapshot_versions"]!["production"]!;
}
