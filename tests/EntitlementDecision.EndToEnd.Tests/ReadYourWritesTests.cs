using System.Net.Http.Json;
using System.Text.Json.Nodes;
using EntitlementDecision.Client;
using EntitlementDecision.Contracts.V1;

namespace EntitlementDecision.EndToEnd.Tests;

/// <summary>
/// Read-your-writes on the running stack: the snapshot_version a control-plane answer returns, passed as min_snapshot_version, makes
/// the sidecar's very next answer show the change (no polling, whatever the outbox's publish delay).
/// </summary>
public sealed class ReadYourWritesTests(RunningSystem system) : IClassFixture<RunningSystem>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Override_NextCheckWithItsSnapshotVersion_SeesTheNewPlan()
    {
        var tenant = RunningSystem.NewTenantId();
        var created = await system.CreateTenantAsync(tenant);
        var before = await system.Sidecar.CheckAsync(new EntitlementCheck(tenant, "sso", MinSnapshotVersion: created), Ct);
        Assert.Equal(DecisionReason.NotInPlan, before.Reason); // the new tenant at once, now cached on the free plan

        var body = await system.OverrideWithApprovalAsync(tenant, "business"); // the approved action's answer
        var version = body["snapshot_version"]!.GetValue<long>();
        Assert.Equal(body["version"]!.GetValue<long>(), version);

        var after = await system.Sidecar.CheckAsync(new EntitlementCheck(tenant, "sso", MinSnapshotVersion: version), Ct);

        Assert.False(after.Fallback, after.FallbackCause);
        Assert.True(after.Allowed);
        Assert.Equal("business", after.PlanId);
        Assert.True(after.Response!.SnapshotVersion >= version);
    }

    [Fact]
    public async Task Suspend_AnswerCarriesEachEnvironmentsVersion_NextCheckIsSuspended()
    {
        var tenant = RunningSystem.NewTenantId();
        var created = await system.CreateTenantAsync(tenant);
        Assert.True((await system.Sidecar.CheckAsync(new EntitlementCheck(tenant, "projects", MinSnapshotVersion: created), Ct)).Allowed);

        using var suspend = await system.ControlPlane.PostAsync($"/tenants/{tenant}/suspend", null, Ct);
        var version = (await suspend.Content.ReadFromJsonAsync<JsonObject>(Ct))!["snapshot_versions"]!["production"]!.GetValue<long>();
        var after = await system.Sidecar.CheckAsync(new EntitlementCheck(tenant, "projects", MinSnapshotVersion: version), Ct);

        Assert.False(after.Fallback, after.FallbackCause);
        Assert.Equal(DecisionReason.TenantSuspended, after.Reason);
    }

    [Fact]
    public async Task VersionNeverWritten_FailedPrecondition_TheClientAnswersByItsFallback()
    {
        var tenant = RunningSystem.NewTenantId();
        await system.CreateTenantAsync(tenant);

        var result = await system.Sidecar.CheckAsync(new EntitlementCheck(tenant, "projects", MinSnapshotVersion: 1_000_000), Ct);

        Assert.True(result.Fallback);
        Assert.False(result.Allowed); // the client's default fallback is fail closed
        Assert.Contains("FailedPrecondition", result.FallbackCause, StringComparison.Ordinal);
        Assert.Contains("snapshot version 1000000 not reached", result.FallbackCause, StringComparison.Ordinal);
    }
}
