using System.Net;
using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Stripe;

namespace EntitlementDecision.EndToEnd.Tests;

/// <summary>The whole loop: a signed Stripe webhook at the control plane changes what the sidecar answers over gRPC.</summary>
public sealed class WebhookToSidecarTests(RunningSystem system) : IClassFixture<RunningSystem>
{
    private const string PaidFeature = "advanced_reports";

    [Fact]
    public async Task UnknownTenant_IsADenialNotAnError()
    {
        var answer = await system.CheckAsync(RunningSystem.NewTenantId(), PaidFeature);

        Assert.False(answer.Allowed);
        Assert.Equal(DecisionReason.UnknownTenant, answer.Reason);
        Assert.Equal(0, answer.SnapshotVersion);
    }

    [Fact]
    public async Task SubscriptionCreated_SidecarGrantsThePaidFeature()
    {
        var tenant = await NewTenantOnFreePlanAsync();
        var body = RunningSystem.SubscriptionEvent("customer.subscription.created", tenant, "sub_" + tenant, "active", DateTimeOffset.UtcNow).ToUtf8Bytes();

        using var response = await system.PostSignedWebhookAsync(body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (answer, after) = await system.WaitForAnswerAsync(tenant, PaidFeature, a => a.Allowed, RunningSystem.FunctionalDeadline);

        Assert.True(after is not null, $"the sidecar still answered {answer} {RunningSystem.FunctionalDeadline.TotalSeconds} s after the webhook was accepted");
        Assert.Equal("pro", answer.PlanId);
        Assert.Equal(DecisionReason.Granted, answer.Reason);
    }

    [Fact]
    public async Task ForgedOrStaleSignature_Rejected_AndChangesNothing()
    {
        var tenant = await NewTenantOnFreePlanAsync();
        var before = await system.CheckAsync(tenant, PaidFeature);
        var body = RunningSystem.SubscriptionEvent("customer.subscription.created", tenant, "sub_" + tenant, "active", DateTimeOffset.UtcNow).ToUtf8Bytes();

        using var forged = await system.PostWebhookAsync(body, WebhookSignature.CreateHeader(body, "whsec_attacker", DateTimeOffset.UtcNow));
        using var stale = await system.PostWebhookAsync(body, WebhookSignature.CreateHeader(body, system.WebhookSecrets[0], DateTimeOffset.UtcNow.AddSeconds(-301)));
        using var unsigned = await system.PostWebhookAsync(body, null);

        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, stale.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, unsigned.StatusCode);
        Assert.Equal(before.SnapshotVersion, (await system.GetEntitlementAsync(tenant))["version"]!.GetValue<long>());

        // The same bytes, correctly signed, are then new to the control plane (nothing of the rejected deliveries was stored),
        // and they move the snapshot exactly one version.
        using var genuine = await system.PostSignedWebhookAsync(body);
        Assert.Equal(HttpStatusCode.OK, genuine.StatusCode);
        var (answer, after) = await system.WaitForAnswerAsync(tenant, PaidFeature, a => a.Allowed, RunningSystem.FunctionalDeadline);
        Assert.NotNull(after);
        Assert.Equal(before.SnapshotVersion + 1, answer.SnapshotVersion);
    }

    [Fact]
    public async Task SameEventDeliveredTwice_ChangesStateOnce()
    {
        var tenant = await NewTenantOnFreePlanAsync();
        var before = await system.CheckAsync(tenant, PaidFeature);
        var body = RunningSystem.SubscriptionEvent("customer.subscription.created", tenant, "sub_" + tenant, "active", DateTimeOffset.UtcNow).ToUtf8Bytes();

        using var first = await system.PostSignedWebhookAsync(body);
        using var second = await system.PostSignedWebhookAsync(body);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        await system.WaitProcessedAsync(body);
        var entitlement = await system.GetEntitlementAsync(tenant);
        Assert.Equal(before.SnapshotVersion + 1, entitlement["version"]!.GetValue<long>());
        var (answer, after) = await system.WaitForAnswerAsync(tenant, PaidFeature, a => a.SnapshotVersion == before.SnapshotVersion + 1, RunningSystem.FunctionalDeadline);
        Assert.NotNull(after);
        Assert.True(answer.Allowed);
    }

    [Fact]
    public async Task DeletedThenOlderUpdated_LeavesTheTenantCanceled()
    {
        var tenant = await NewTenantOnFreePlanAsync();
        var subscription = "sub_" + tenant;
        var t0 = DateTimeOffset.UtcNow.AddSeconds(-30);
        var createdBody = RunningSystem.SubscriptionEvent("customer.subscription.created", tenant, subscription, "active", t0).ToUtf8Bytes();
        using (var created = await system.PostSignedWebhookAsync(createdBody))
        {
            Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        }

        await system.WaitProcessedAsync(createdBody);
        var deletedBody = RunningSystem.SubscriptionEvent("customer.subscription.deleted", tenant, subscription, "canceled", t0.AddSeconds(20)).ToUtf8Bytes();
        using (var deleted = await system.PostSignedWebhookAsync(deletedBody))
        {
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }

        await system.WaitProcessedAsync(deletedBody);
        var canceled = await system.GetEntitlementAsync(tenant);
        var lateBody = RunningSystem.SubscriptionEvent("customer.subscription.updated", tenant, subscription, "active", t0.AddSeconds(10)).ToUtf8Bytes();
        using (var late = await system.PostSignedWebhookAsync(lateBody))
        {
            Assert.Equal(HttpStatusCode.OK, late.StatusCode);
        }

        Assert.Equal("ignored_stale", await system.WaitProcessedAsync(lateBody));

        var final = await system.GetEntitlementAsync(tenant);
        Assert.Equal(canceled["version"]!.GetValue<long>(), final["version"]!.GetValue<long>());
        var (answer, after) = await system.WaitForAnswerAsync(tenant, PaidFeature, a => a.SnapshotVersion == final["version"]!.GetValue<long>(), RunningSystem.FunctionalDeadline);
        Assert.NotNull(after);
        Assert.False(answer.Allowed);
        Assert.Equal(DecisionReason.SubscriptionInactive, answer.Reason);
        Assert.Equal("free", answer.PlanId);
    }

    [Fact]
    public async Task EventSignedWithTheRotatedSecret_IsAccepted()
    {
        Assert.True(system.WebhookSecrets.Count >= 2, "STRIPE_WEBHOOK_SECRET must list two secrets for this test (test.sh sets two)");
        var tenant = await NewTenantOnFreePlanAsync();
        var body = RunningSystem.SubscriptionEvent("customer.subscription.created", tenant, "sub_" + tenant, "trialing", DateTimeOffset.UtcNow).ToUtf8Bytes();

        using var response = await system.PostSignedWebhookAsync(body, secretIndex: 1);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (answer, after) = await system.WaitForAnswerAsync(tenant, PaidFeature, a => a.Allowed, RunningSystem.FunctionalDeadline);
        Assert.NotNull(after);
        Assert.Equal("pro", answer.PlanId);
    }

    private async Task<string> NewTenantOnFreePlanAsync()
    {
        var tenant = RunningSystem.NewTenantId();
        await system.CreateTenantAsync(tenant);
        var (answer, after) = await system.WaitForAnswerAsync(tenant, PaidFeature, a => a.Reason != DecisionReason.UnknownTenant, RunningSystem.FunctionalDeadline);
        Assert.True(after is not null, "the sidecar never learned of the new tenant");
        Assert.Equal(DecisionReason.NotInPlan, answer.Reason);
        Assert.Equal("free", answer.PlanId);
        return tenant;
    }
}
