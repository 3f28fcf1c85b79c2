using System.Net;
using System.Text;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Stripe;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Tests;

public sealed class WebhookTests(ControlPlaneFixture fx) : IClassFixture<ControlPlaneFixture>
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.UtcNow.AddMinutes(-30);

    [Fact]
    public async Task SignedSubscriptionCreated_MakesTenantProActive_AndSnapshotReachesRedis()
    {
        var tenant = await fx.CreateTenantAsync();
        var body = ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionCreated, tenant, "active", T0)
            .WithCustomer("cus_test_1").WithItemCurrentPeriodEnd(0, T0.AddDays(30)).ToUtf8Bytes();

        var (response, json) = await fx.PostWebhookAsync(body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False((bool?)json?["duplicate"]);
        Assert.Equal("pending", (string?)json?["status"]);
        Assert.Equal("applied", await fx.OutcomeAsync(json));

        var (state, stateJson) = await fx.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/entitlements?environment=production", fx.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, state.StatusCode);
        Assert.Equal(("pro", "subscription", "active", "active"),
            ((string?)stateJson?["plan_id"], (string?)stateJson?["plan_source"], (string?)stateJson?["stripe_status"], (string?)stateJson?["subscription_state"]));
        Assert.Equal("cus_test_1", (string?)stateJson?["stripe_customer_id"]);
        Assert.Equal("sub_test_1", (string?)stateJson?["stripe_subscription_id"]);

        var snapshot = await fx.WaitForSnapshotAsync(tenant, s => s.Version > 1);
        Assert.NotNull(snapshot);
        Assert.Equal(("pro", PlanSource.Subscription, SubscriptionState.Active, 2L), (snapshot.PlanId, snapshot.PlanSource, snapshot.SubscriptionState, snapshot.Version));
        Assert.Equal(T0.AddDays(30).ToUnixTimeSeconds(), snapshot.CurrentPeriodEnd?.ToUnixTimeSeconds());

        var audit = await fx.DbAsync(db => db.AuditEntries.AsNoTracking().SingleAsync(a => a.TenantId == tenant && a.Actor == "stripe"));
        Assert.Equal(StripeSubscriptionEvents.SubscriptionCreated, audit.Action);
        Assert.StartsWith("evt_", audit.Cause);
        Assert.Contains("\"plan_id\": \"pro\"", audit.After!);
    }

    [Fact]
    public async Task WebhookCommit_ReachesRedis()
    {
        var tenant = await fx.CreateTenantAsync();
        Assert.NotNull(await fx.WaitForSnapshotAsync(tenant, s => s.Version == 1));
        var body = ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionCreated, tenant, "active", T0).ToUtf8Bytes();

        var (response, _) = await fx.PostWebhookAsync(body);
        var committed = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var snapshot = await fx.WaitForSnapshotAsync(tenant, s => s.Version == 2);
        committed.Stop();

        Assert.Equal(2, snapshot?.Version);
        // How fast is measured by loadtests/ (propagation scenario); here only that it arrives within the functional deadline.
        TestContext.Current.SendDiagnosticMessage($"webhook response -> snapshot in Redis: {committed.Elapsed.TotalMilliseconds:F1} ms");
    }

    [Fact]
    public async Task ForgedSignature_Returns400_AndStoresNothing()
    {
        var tenant = await fx.CreateTenantAsync();
        var body = ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionCreated, tenant, "active", T0).ToUtf8Bytes();
        var before = await fx.StripeEventCountAsync();

        var (wrongSecret, json) = await fx.PostWebhookAsync(body, secret: "whsec_attacker_guess_000000");
        Assert.Equal(HttpStatusCode.BadRequest, wrongSecret.StatusCode);
        Assert.Equal("application/problem+json", wrongSecret.Content.Headers.ContentType?.MediaType);
        Assert.Equal(400, (int?)json?["status"]);

        var header = WebhookSignature.CreateHeader(body, TestServices.WebhookSecret, DateTimeOffset.UtcNow);
        var tampered = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(body).Replace("\"active\"", "\"trialing\""));
        var (tamperedResponse, _) = await fx.PostWebhookAsync(tampered, header: header);
        Assert.Equal(HttpStatusCode.BadRequest, tamperedResponse.StatusCode);

        var (noHeader, _) = await fx.PostWebhookAsync(body, secret: null);
        Assert.Equal(HttpStatusCode.BadRequest, noHeader.StatusCode);

        Assert.Equal(before, await fx.StripeEventCountAsync());
        Assert.Equal(1, (await fx.EntitlementAsync(tenant)).Version);
    }

    [Fact]
    public async Task StaleSignatureTimestamp_Returns400()
    {
        var tenant = await fx.CreateTenantAsync();
        var body = ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionCreated, tenant, "active", T0).ToUtf8Bytes();
        var before = await fx.StripeEventCountAsync();
        var (response, _) = await fx.PostWebhookAsync(body, signedAt: DateTimeOffset.UtcNow.AddMinutes(-10));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(before, await fx.StripeEventCountAsync());
    }

    [Fact]
    public async Task SameEventTwice_SecondIsDuplicate_VersionIncrementedOnce()
    {
        var tenant = await fx.CreateTenantAsync();
        var body = ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionCreated, tenant, "active", T0).ToUtf8Bytes();

        var (first, firstJson) = await fx.PostWebhookAsync(body);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("applied", await fx.OutcomeAsync(firstJson));
        var (second, json) = await fx.PostWebhookAsync(body);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.True((bool?)json?["duplicate"]);
        Assert.Null(json?["status"]);
        var stored = await fx.WaitProcessedAsync((string)json!["event_id"]!);
        Assert.Equal((2, "applied"), (stored.Deliveries, stored.Outcome));

        Assert.Equal(2, (await fx.EntitlementAsync(tenant)).Version);
        Assert.Equal(1, await fx.DbAsync(db => db.AuditEntries.CountAsync(a => a.TenantId == tenant && a.Actor == "stripe")));
    }

    [Fact]
    public async Task ConcurrentDeliveriesOfOneEvent_ApplyOnce()
    {
        var tenant = await fx.CreateTenantAsync();
        var body = ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionCreated, tenant, "active", T0).ToUtf8Bytes();
        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => fx.PostWebhookAsync(body)));
        Assert.All(results, r => Assert.Equal(HttpStatusCode.OK, r.Response.StatusCode));
        Assert.Equal(3, results.Count(r => (bool?)r.Json?["duplicate"] == true));
        Assert.Equal("applied", await fx.OutcomeAsync(results[0].Json));
        Assert.Equal(2, (await fx.EntitlementAsync(tenant)).Version);
    }

    [Fact]
    public async Task DeletedThenOlderUpdated_StaysCanceledOnBaseline()
    {
        var tenant = await fx.CreateTenantAsync();
        Assert.Equal("applied", await fx.DeliverAsync(ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionCreated, tenant, "active", T0).ToUtf8Bytes()));
        var (deleted, deletedJson) = await fx.PostWebhookAsync(ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionDeleted, tenant, "canceled", T0.AddMinutes(10)).ToUtf8Bytes());
        Assert.Equal("applied", await fx.OutcomeAsync(deletedJson));

        var (older, olderJson) = await fx.PostWebhookAsync(ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionUpdated, tenant, "active", T0.AddMinutes(5)).ToUtf8Bytes());
        Assert.Equal(HttpStatusCode.OK, older.StatusCode);
        Assert.Equal("ignored_stale", await fx.OutcomeAsync(olderJson));

        var (sameSecond, sameJson) = await fx.PostWebhookAsync(ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionUpdated, tenant, "past_due", T0.AddMinutes(10)).ToUtf8Bytes());
        Assert.Equal(HttpStatusCode.OK, sameSecond.StatusCode);
        Assert.Equal("ignored_stale", await fx.OutcomeAsync(sameJson));

        var row = await fx.EntitlementAsync(tenant);
        Assert.Equal(("canceled", 3L), (row.StripeStatus, row.Version));
        var snapshot = await fx.WaitForSnapshotAsync(tenant, s => s.Version == 3);
        Assert.Equal(("free", PlanSource.Baseline, SubscriptionState.Canceled), (snapshot?.PlanId, snapshot?.PlanSource, snapshot?.SubscriptionState));

        var outcomes = await fx.DbAsync(db => db.StripeEvents.Where(e => e.TenantId == tenant).OrderBy(e => e.StripeCreated).ThenBy(e => e.Type).Select(e => e.Outcome).ToListAsync());
        Assert.Equal(["applied", "ignored_stale", "applied", "ignored_stale"], outcomes);
    }

    [Fact]
    public async Task NewSubscriptionAfterCancel_IsApplied()
    {
        var tenant = await fx.CreateTenantAsync();
        Assert.Equal("applied", await fx.DeliverAsync(ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionDeleted, tenant, "canceled", T0, subscriptionId: "sub_old").ToUtf8Bytes()));
        var (response, json) = await fx.PostWebhookAsync(ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionCreated, tenant, "trialing", T0.AddMinutes(1), subscriptionId: "sub_new").ToUtf8Bytes());
        Assert.Equal("applied", await fx.OutcomeAsync(json));
        var row = await fx.EntitlementAsync(tenant);
        Assert.Equal(("trialing", "sub_new", "pro"), (row.StripeStatus, row.StripeSubscriptionId, row.PlanId));
    }

    [Fact]
    public async Task SecondRotationSecret_IsAccepted()
    {
        var tenant = await fx.CreateTenantAsync();
        var body = ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionCreated, tenant, "active", T0).ToUtf8Bytes();
        var (response, json) = await fx.PostWebhookAsync(body, secret: TestServices.WebhookSecretOld);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("applied", await fx.OutcomeAsync(json));
        var (other, otherJson) = await fx.PostWebhookAsync(ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionUpdated, tenant, "active", T0.AddSeconds(1)).ToUtf8Bytes(), secret: TestServices.WebhookSecret);
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        Assert.Equal("applied", await fx.OutcomeAsync(otherJson));
    }

    [Fact]
    public async Task UnknownTenant_Returns200_StoresRejectedOutcome()
    {
        var ghost = TestServices.NewTenantId("ghost");
        var builder = ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionCreated, ghost, "active", T0);
        var (response, json) = await fx.PostWebhookAsync(builder.ToUtf8Bytes());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("rejected: unknown tenant", await fx.OutcomeAsync(json));
        var stored = await fx.DbAsync(db => db.StripeEvents.AsNoTracking().SingleAsync(e => e.TenantId == ghost));
        Assert.Equal("rejected: unknown tenant", stored.Outcome);
        Assert.Equal(StripeSubscriptionEvents.SubscriptionCreated, stored.Type);
    }

    [Fact]
    public async Task UnknownPrice_IsRejected_AndChangesNothing()
    {
        var tenant = await fx.CreateTenantAsync();
        var body = ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionCreated, tenant, "active", T0).WithPriceIds("price_not_in_catalog").ToUtf8Bytes();
        var (response, json) = await fx.PostWebhookAsync(body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("rejected: unknown price price_not_in_catalog", await fx.OutcomeAsync(json));
        var row = await fx.EntitlementAsync(tenant);
        Assert.Equal((1L, (string?)null), (row.Version, row.StripeStatus));
    }

    [Fact]
    public async Task UnhandledType_IsStoredAsIgnored()
    {
        var body = StripeEventBuilder.Create("price.created", StripeEventBuilder.LoadFixture("price")).WithEventId("evt_" + Guid.NewGuid().ToString("N")).ToUtf8Bytes();
        var (response, json) = await fx.PostWebhookAsync(body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ignored_unhandled", await fx.OutcomeAsync(json));
    }

    [Fact]
    public async Task CheckoutCompleted_LinksCustomerAndSubscription_WithoutGrantingAccess()
    {
        var tenant = await fx.CreateTenantAsync();
        var body = StripeEventBuilder.CheckoutSessionCompleted().WithEventId("evt_" + Guid.NewGuid().ToString("N")).WithCreated(T0.AddMinutes(1))
            .WithMetadata("tenant_id", tenant).WithMetadata("plan_id", "pro").WithSubscription("sub_checkout").WithCustomer("cus_checkout").ToUtf8Bytes();
        var (_, json) = await fx.PostWebhookAsync(body);
        Assert.Equal("applied", await fx.OutcomeAsync(json));
        var row = await fx.EntitlementAsync(tenant);
        Assert.Equal(("cus_checkout", "sub_checkout", "pro", (string?)null), (row.StripeCustomerId, row.StripeSubscriptionId, row.PlanId, row.StripeStatus));

        // the subscription.created of the same checkout, created a little earlier, is still applied
        var (_, created) = await fx.PostWebhookAsync(ControlPlaneFixture.SubscriptionEvent(StripeSubscriptionEvents.SubscriptionCreated, tenant, "active", T0, subscriptionId: "sub_checkout").ToUtf8Bytes());
        Assert.Equal("applied", await fx.OutcomeAsync(created));
        var (_, state) = await fx.SendAsync(HttpMethod.Get, "/billing/entitlements", fx.Token(Roles.Owner, tenant));
        Assert.Equal(("pro", "subscription"), ((string?)state?["plan_id"], (string?)state?["plan_source"]));
    }

    [Fact]
    public async Task Unparseable_Returns400()
    {
        var body = "{\"not\":\"an event\"}"u8.ToArray();
        var (response, json) = await fx.PostWebhookAsync(body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(400, (int?)json?["status"]);
    }

    [Fact]
    public async Task BodyOver512KiB_Returns413()
    {
        var body = new byte[512 * 1024 + 1];
        Array.Fill(body, (byte)' ');
        var (response, _) = await fx.PostWebhookAsync(body);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }
}
