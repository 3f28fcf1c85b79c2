using System.Net;
using System.Text.Json.Nodes;
using EntitlementDecision.ControlPlane.Tenants;
using EntitlementDecision.FakeStripe;
using Microsoft.Extensions.DependencyInjection;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>
/// An operator suspension pauses payment collection in Stripe (<c>pause_collection[behavior]=void</c>, the fake is the process edge) and
/// a resume clears it; both audited; a repeat sends nothing twice; Stripe's echoed update keeps the tenant suspended; when Stripe fails,
/// the suspension still blocks and the pause is retried by the job with the same idempotency key.
/// </summary>
public sealed class CollectionPauseTests(StripeWorld world) : IClassFixture<StripeWorld>
{
    private ControlPlaneFixture Fx => world.Host;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<(string Tenant, string Subscription)> SubscribedTenantAsync()
    {
        var tenant = await Fx.CreateTenantAsync();
        var (sub, events) = await world.SubscribeAsync(tenant);
        Assert.All(await world.DeliverAsync(events), o => Assert.Equal("applied", o));
        return (tenant, sub);
    }

    private List<RecordedRequest> Updates(string subscriptionId) =>
        world.Stripe.State.Requests.Where(r => r.Method == "POST" && r.Path == "/v1/subscriptions/" + subscriptionId).ToList();

    private async Task<List<string>> ActionsAsync(string tenant) => (await world.AuditAsync(tenant)).Select(a => a.Action).ToList();

    private async Task<string> StatusAsync(string tenant) =>
        (string)(await Fx.SendAsync(HttpMethod.Get, $"/tenants/{tenant}", Fx.OperatorToken())).Json!["status"]!;

    [Fact]
    public async Task Suspend_PausesCollectionAsVoid_RepeatSendsNothing_EchoKeepsItSuspended_ResumeClearsIt()
    {
        var (tenant, sub) = await SubscribedTenantAsync();

        var (suspended, suspendedJson) = await Fx.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/suspend", Fx.OperatorToken());

        Assert.Equal(HttpStatusCode.OK, suspended.StatusCode);
        Assert.Equal("suspended", (string)suspendedJson!["status"]!);
        Assert.True(JsonNode.DeepEquals(new JsonObject { ["behavior"] = "void", ["resumes_at"] = null }, world.Subscription(sub)["pause_collection"]),
            world.Subscription(sub)["pause_collection"]?.ToJsonString());
        Assert.Equal(new Dictionary<string, string> { ["pause_collection[behavior]"] = "void" }, Updates(sub).Single().Form);
        var row = await world.RowAsync(tenant);
        Assert.Equal((sub, (DateTimeOffset?)null), (row.CollectionPausedSubscriptionId, row.CollectionChangeRequestedAt));
        var paused = (await world.AuditAsync(tenant)).Single(a => a.Action == "billing.collection_paused");
        Assert.Equal(("operator:ops", "operator", "production"), (paused.Actor, paused.Cause, paused.Environment));
        Assert.Contains(sub, paused.After!, StringComparison.Ordinal);

        // A repeated suspend: already suspended and Stripe in step, so no second pause.
        Assert.Equal(HttpStatusCode.OK, (await Fx.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/suspend", Fx.OperatorToken())).Response.StatusCode);
        Assert.Single(Updates(sub));
        Assert.Single(await ActionsAsync(tenant), a => a == "billing.collection_paused");

        // Stripe's customer.subscription.updated for the pause: neither a plan change nor an end of the suspension.
        var echo = (await world.EventsAsync("customer.subscription.updated", Ct))[0];
        Assert.Equal("void", ((global::Stripe.Subscription)echo.Data.Object).PauseCollection?.Behavior);
        var versionBefore = (await world.RowAsync(tenant)).Version;
        Assert.DoesNotContain("rejected", (await world.DeliverAsync([echo.Id])).Single() ?? "", StringComparison.Ordinal);
        var afterEcho = await world.RowAsync(tenant);
        Assert.Equal((versionBefore, "pro", "active"), (afterEcho.Version, afterEcho.PlanId, afterEcho.StripeStatus));
        Assert.Equal("suspended", await StatusAsync(tenant));
        var (_, entitlement) = await Fx.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/entitlements", Fx.OperatorToken());
        Assert.Equal("suspended", (string)entitlement!["access_mode"]!);

        // A renewal while paused is voided in Stripe: nothing charged.
        await world.Stripe.State.PayAsync(sub, Ct);
        var renewal = (await world.Api.ListInvoicesAsync((string)world.Subscription(sub)["customer"]!, 1, Ct)).Single();
        Assert.Equal(("void", 0L), (renewal.Status, renewal.AmountPaid));

        var (resumed, resumedJson) = await Fx.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/resume", Fx.OperatorToken());

        Assert.Equal(HttpStatusCode.OK, resumed.StatusCode);
        Assert.Equal("active", (string)resumedJson!["status"]!);
        Assert.Null(world.Subscription(sub)["pause_collection"]);
        Assert.Equal(new Dictionary<string, string> { ["pause_collection"] = "" }, Updates(sub)[^1].Form);
        Assert.NotEqual(Updates(sub)[0].IdempotencyKey, Updates(sub)[^1].IdempotencyKey);
        row = await world.RowAsync(tenant);
        Assert.Equal(((string?)null, (DateTimeOffset?)null), (row.CollectionPausedSubscriptionId, row.CollectionChangeRequestedAt));
        var actions = await ActionsAsync(tenant);
        Assert.True(actions.IndexOf("tenant.suspended") < actions.IndexOf("billing.collection_paused")
            && actions.IndexOf("tenant.resumed") < actions.IndexOf("billing.collection_resumed"), string.Join(", ", actions));
        var resumeEcho = (await world.EventsAsync("customer.subscription.updated", Ct))[0];
        await world.DeliverAsync([resumeEcho.Id]);
        Assert.Equal("active", await StatusAsync(tenant));

        // Suspended again within Stripe's 24 h key window: a key of its own, so Stripe pauses again instead of replaying.
        Assert.Equal(HttpStatusCode.OK, (await Fx.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/suspend", Fx.OperatorToken())).Response.StatusCode);
        Assert.Equal("void", (string?)world.Subscription(sub)["pause_collection"]?["behavior"]);
        Assert.Equal(3, Updates(sub).Select(u => u.IdempotencyKey).Distinct().Count());
    }

    [Fact]
    public async Task StripeFails_SuspensionStillBlocks_ThePauseIsAuditedPending_AndTheJobRetriesWithTheSameKey()
    {
        var (tenant, sub) = await SubscribedTenantAsync();
        world.Stripe.State.AddFault(new FakeFault("/v1/subscriptions/" + sub, Status: 500, Count: 1, Method: "POST", ShouldRetry: false));

        var (suspended, _) = await Fx.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/suspend", Fx.OperatorToken());

        Assert.Equal(HttpStatusCode.OK, suspended.StatusCode);
        Assert.Equal("suspended", await StatusAsync(tenant));
        var (_, entitlement) = await Fx.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/entitlements", Fx.OperatorToken());
        Assert.Equal("suspended", (string)entitlement!["access_mode"]!);
        Assert.Null(world.Subscription(sub)["pause_collection"]);
        Assert.NotNull((await world.RowAsync(tenant)).CollectionChangeRequestedAt);
        var failed = (await world.AuditAsync(tenant)).Single(a => a.Action == "billing.collection_pause_failed");
        Assert.Contains("500", failed.After!, StringComparison.Ordinal);

        var outcomes = await Fx.Factory.Services.GetRequiredService<CollectionPauseJob>().RunAsync(Ct);

        Assert.Contains(new CollectionOutcome("production", sub, CollectionStep.Paused), outcomes);
        Assert.Equal("void", (string?)world.Subscription(sub)["pause_collection"]?["behavior"]);
        var attempts = Updates(sub);
        Assert.Equal(2, attempts.Count);
        Assert.Equal(attempts[0].IdempotencyKey, attempts[1].IdempotencyKey);
        var paused = (await world.AuditAsync(tenant)).Single(a => a.Action == "billing.collection_paused");
        Assert.Equal(("system:collection-pause", "retry"), (paused.Actor, paused.Cause));
        Assert.Null((await world.RowAsync(tenant)).CollectionChangeRequestedAt);
        Assert.Empty(await Fx.Factory.Services.GetRequiredService<CollectionPauseJob>().RunAsync(Ct));
    }

    [Fact]
    public async Task ResumedBeforeStripeConfirmedThePause_NothingIsSent_AndNothingIsLeftToRetry()
    {
        var (tenant, sub) = await SubscribedTenantAsync();
        world.Stripe.State.AddFault(new FakeFault("/v1/subscriptions/" + sub, Status: 500, Count: 1, Method: "POST", ShouldRetry: false));
        Assert.Equal(HttpStatusCode.OK, (await Fx.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/suspend", Fx.OperatorToken())).Response.StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await Fx.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/resume", Fx.OperatorToken())).Response.StatusCode);

        Assert.Single(Updates(sub)); // only the failed pause
        var row = await world.RowAsync(tenant);
        Assert.Equal(((string?)null, (DateTimeOffset?)null), (row.CollectionPausedSubscriptionId, row.CollectionChangeRequestedAt));
        Assert.DoesNotContain(await Fx.Factory.Services.GetRequiredService<CollectionPauseJob>().RunAsync(Ct), o => o.SubscriptionId == sub);
        Assert.Single(Updates(sub));
        Assert.Null(world.Subscription(sub)["pause_collection"]);
    }

    [Fact]
    public async Task TenantWithoutSubscription_SuspendAndResume_CallNoStripe()
    {
        var tenant = await Fx.CreateTenantAsync();
        var before = world.Stripe.State.Requests.Count(r => r.Method == "POST");

        Assert.Equal(HttpStatusCode.OK, (await Fx.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/suspend", Fx.OperatorToken())).Response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Fx.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/resume", Fx.OperatorToken())).Response.StatusCode);

        Assert.Equal(before, world.Stripe.State.Requests.Count(r => r.Method == "POST"));
        Assert.DoesNotContain(await ActionsAsync(tenant), a => a.StartsWith("billing.collection", StringComparison.Ordinal));
    }
}
