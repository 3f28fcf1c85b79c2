using System.Net;
using System.Text.Json.Nodes;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Subscriptions;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.FakeStripe;
using EntitlementDecision.Redis;
using EntitlementDecision.Stripe.Api;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>A world whose checkout URLs are configured (ED_BILLING_*), so tests see them in the request Stripe receives.</summary>
public class SelfServiceWorld : StripeWorld
{
    public const string SuccessUrl = "https://app.example.test/billing/done?session={CHECKOUT_SESSION_ID}";
    public const string CancelUrl = "https://app.example.test/billing/back";
    public const string ReturnUrl = "https://app.example.test/settings/billing";

    public SelfServiceWorld()
    {
        Overrides[SelfServiceBillingOptions.SuccessUrlVariable] = SuccessUrl;
        Overrides[SelfServiceBillingOptions.CancelUrlVariable] = CancelUrl;
        Overrides[SelfServiceBillingOptions.PortalReturnUrlVariable] = ReturnUrl;
        Overrides[SelfServiceBillingOptions.IntervalVariable] = "0"; // tests run the pending-change job themselves, at a chosen time
    }
}

/// <summary>The same with ED_DOWNGRADE_OVER_USAGE=soft_lock.</summary>
public sealed class SoftLockWorld : SelfServiceWorld
{
    public SoftLockWorld() => Overrides[SelfServiceBillingOptions.OverUsageVariable] = "soft_lock";
}

/// <summary>Shared steps of the self-service billing tests: checkout through our endpoint, completed in the fake Stripe API, events delivered.</summary>
public abstract class SelfServiceTestBase(StripeWorld world)
{
    protected ControlPlaneFixture Fx => world.Host;

    protected StripeWorld World => world;

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected const string BusinessPrice = "price_1PgbusinessMonthlyDev01";

    protected string Owner(string tenant) => Fx.Token(Roles.Owner, tenant, "alice");

    protected async Task<(HttpResponseMessage Response, JsonNode? Json)> SendAsync(HttpMethod method, string url, string? token, object? body = null, string? idempotencyKey = null)
    {
        var request = Fx.Request(method, url, token, body);
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        var response = await Fx.Client.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return (response, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    /// <summary>POST /billing/checkout as the owner, asserts 200, returns the session id.</summary>
    protected async Task<string> CheckoutAsync(string tenant, string plan, string? idempotencyKey = null)
    {
        var (response, json) = await SendAsync(HttpMethod.Post, "/billing/checkout", Owner(tenant), new { plan_id = plan }, idempotencyKey);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"checkout: {(int)response.StatusCode} {json}");
        return (string)json!["id"]!;
    }

    /// <summary>A tenant subscribed to <paramref name="plan"/> through our checkout, the fake's completion and its delivered events; returns the subscription id.</summary>
    protected async Task<(string Tenant, string SubscriptionId)> SubscribedTenantAsync(string plan)
    {
        var tenant = await Fx.CreateTenantAsync();
        var session = await CheckoutAsync(tenant, plan);
        var completed = await World.Stripe.State.CompleteCheckoutSessionAsync(session, Ct);
        Assert.All(await World.DeliverAsync(completed), o => Assert.Equal("applied", o));
        var row = await World.RowAsync(tenant);
        Assert.Equal(plan, row.PlanId);
        return (tenant, (string)completed.Object["id"]!);
    }

    protected IReadOnlyList<RecordedRequest> StripeRequests(string method, string path) =>
        World.Stripe.State.Requests.Where(r => r.Method == method && r.Path == path).ToList();

    /// <summary>Sets the Redis usage counter of (tenant, feature) in the current window, as the sidecar would have counted it.</summary>
    protected static async Task SetUsageAsync(string tenant, string feature, ResetPeriod period, long value)
    {
        var config = ConfigurationOptions.Parse(TestServices.Redis);
        config.AbortOnConnectFail = false;
        using var redis = await ConnectionMultiplexer.ConnectAsync(config);
        var now = DateTimeOffset.UtcNow;
        var window = QuotaWindow.For(period, now);
        await new UsageCounterAdmin(redis).SetCountersAsync([(new UsageCounterValue("production", tenant, feature, window.Key, value), window.End.AddDays(1))], now);
    }
}

/// <summary>
/// POST /billing/checkout, /billing/portal, /billing/subscription/{change,cancel,resume} and DELETE /billing/subscription/change on the
/// real host (PostgreSQL, Redis) against the fake Stripe API: roles, tenant isolation, the requests Stripe receives, and their effect
/// on the entitlement row and the snapshot the sidecar reads.
/// </summary>
public sealed class SelfServiceBillingTests(SelfServiceWorld world) : SelfServiceTestBase(world), IClassFixture<SelfServiceWorld>
{
    public static TheoryData<string, string> Endpoints => new()
    {
        { "POST", "/billing/checkout" },
        { "POST", "/billing/portal" },
        { "POST", "/billing/subscription/change" },
        { "DELETE", "/billing/subscription/change" },
        { "POST", "/billing/subscription/cancel" },
        { "POST", "/billing/subscription/resume" },
    };

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task AnyEndpoint_WithoutToken_Is401(string method, string path)
    {
        var (response, _) = await SendAsync(new HttpMethod(method), path, null, new { plan_id = "pro" });
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task AnyEndpoint_MemberOrOperator_Is403AndStripeIsNotCalled(string method, string path)
    {
        var tenant = await Fx.CreateTenantAsync();
        World.Stripe.State.ClearRequests();
        foreach (var token in new[] { Fx.Token(Roles.Member, tenant), Fx.OperatorToken() })
        {
            var (response, _) = await SendAsync(new HttpMethod(method), path, token, new { plan_id = "pro" });
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }

        Assert.Empty(World.Stripe.State.Requests);
    }

    [Fact]
    public async Task Checkout_RequestStripeReceives_HasPriceCustomerTenantMetadataTrialUrlsAndIdempotencyKey()
    {
        var tenant = await Fx.CreateTenantAsync();
        World.Stripe.State.ClearRequests();
        var key = "client-retry-" + Guid.NewGuid().ToString("N");
        var (response, json) = await SendAsync(HttpMethod.Post, "/billing/checkout", Fx.Token(Roles.Admin, tenant, "bob"), new { plan_id = "pro" }, key);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sessionId = (string)json!["id"]!;
        Assert.StartsWith("cs_", sessionId);
        Assert.StartsWith("http", (string)json["url"]!);

        var row = await World.RowAsync(tenant);
        Assert.StartsWith("cus_", row.StripeCustomerId);
        var customer = Assert.Single(StripeRequests("POST", "/v1/customers"));
        Assert.Equal((tenant, "production"), (customer.Form["metadata[tenant_id]"], customer.Form["metadata[environment]"]));
        Assert.Equal(StripeNetBilling.IdempotencyKeyFor("/v1/customers", $"customer:{tenant}:production"), customer.IdempotencyKey);

        var sent = Assert.Single(StripeRequests("POST", "/v1/checkout/sessions"));
        Assert.Equal("subscription", sent.Form["mode"]);
        Assert.Equal(TestServices.ProPrice, sent.Form["line_items[0][price]"]);
        Assert.Equal(row.StripeCustomerId, sent.Form["customer"]);
        Assert.Equal(tenant, sent.Form["client_reference_id"]);
        foreach (var prefix in new[] { "metadata", "subscription_data[metadata]" })
        {
            Assert.Equal(tenant, sent.Form[$"{prefix}[tenant_id]"]);
            Assert.Equal("production", sent.Form[$"{prefix}[environment]"]);
            Assert.Equal("pro", sent.Form[$"{prefix}[plan_id]"]);
        }

        Assert.Equal("14", sent.Form["subscription_data[trial_period_days]"]); // the catalog's trial_days of pro; the tenant never had a trial
        Assert.Equal(SelfServiceWorld.SuccessUrl, sent.Form["success_url"]);
        Assert.Equal(SelfServiceWorld.CancelUrl, sent.Form["cancel_url"]);
        Assert.Equal(StripeNetBilling.IdempotencyKeyFor("/v1/checkout/sessions", $"checkout:{tenant}:production:pro:{key}"), sent.IdempotencyKey);

        // The client retries with the same key: Stripe replays the same session; no second customer.
        var (again, againJson) = await SendAsync(HttpMethod.Post, "/billing/checkout", Fx.Token(Roles.Admin, tenant, "bob"), new { plan_id = "pro" }, key);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(sessionId, (string)againJson!["id"]!);
        Assert.Single(StripeRequests("POST", "/v1/customers"));
        Assert.Equal(row.StripeCustomerId, (await World.RowAsync(tenant)).StripeCustomerId);

        // Without a key, the key derives from the state the request acts on: a retry gets the same session, never a second one.
        var (third, thirdJson) = await SendAsync(HttpMethod.Post, "/billing/checkout", Owner(tenant), new { plan_id = "pro" });
        Assert.Equal(HttpStatusCode.OK, third.StatusCode);
        Assert.NotEqual(sessionId, (string)thirdJson!["id"]!);
        var (fourth, fourthJson) = await SendAsync(HttpMethod.Post, "/billing/checkout", Owner(tenant), new { plan_id = "pro" });
        Assert.Equal(HttpStatusCode.OK, fourth.StatusCode);
        Assert.Equal((string)thirdJson["id"]!, (string)fourthJson!["id"]!);
        Assert.Equal(2, StripeRequests("POST", "/v1/checkout/sessions").Select(r => r.IdempotencyKey).Distinct().Count()); // four requests, two keys

        var audit = await World.AuditAsync(tenant);
        var created = audit.Where(a => a.Action == "billing.checkout_session_created").ToList();
        Assert.Equal(2, created.Count); // the retries are audited billing.checkout_session_returned, and counted once as KPIs
        Assert.Equal(2, audit.Count(a => a.Action == "billing.checkout_session_returned"));
        Assert.Equal(("admin:bob", $"request:{key}"), (created[0].Actor, created[0].Cause));
        Assert.Contains(sessionId, created[0].After);
        var customerAudit = Assert.Single(audit, a => a.Action == "billing.customer_created");
        Assert.Contains(row.StripeCustomerId!, customerAudit.After);
    }

    [Fact]
    public async Task Checkout_TokenOfTenantA_NeverCreatesASessionCarryingTenantB()
    {
        var a = await Fx.CreateTenantAsync();
        var b = await Fx.CreateTenantAsync();
        World.Stripe.State.ClearRequests();
        // The body cannot name a tenant: extra fields are ignored, the tenant comes from the token.
        var (response, _) = await SendAsync(HttpMethod.Post, "/billing/checkout", Owner(a), new { plan_id = "pro", tenant_id = b, client_reference_id = b });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = Assert.Single(StripeRequests("POST", "/v1/checkout/sessions"));
        Assert.Equal((a, a, a), (sent.Form["client_reference_id"], sent.Form["metadata[tenant_id]"], sent.Form["subscription_data[metadata][tenant_id]"]));
        Assert.DoesNotContain(World.Stripe.State.Requests, r => r.Form.Values.Contains(b));
        Assert.Null((await World.RowAsync(b)).StripeCustomerId);
        Assert.DoesNotContain(await World.AuditAsync(b), x => x.Action.StartsWith("billing.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Checkout_Completed_GivesTheTenantThePlanInTheSnapshot()
    {
        var (tenant, sub) = await SubscribedTenantAsync("pro");
        var row = await World.RowAsync(tenant);
        Assert.Equal(("trialing", sub), (row.StripeStatus, row.StripeSubscriptionId));
        var snapshot = await Fx.WaitForSnapshotAsync(tenant, s => s.Version >= row.Version);
        Assert.Equal(("pro", PlanSource.Subscription, SubscriptionState.Trialing), (snapshot!.PlanId, snapshot.PlanSource, snapshot.SubscriptionState));
        Assert.Equal(row.CurrentPeriodEnd, snapshot.AccessDeadline); // a trial ends at its period end
    }

    [Fact]
    public async Task SuccessPage_SaysOnlyWhatStripeAndWeKnow_PendingOnlyOncePaid_RefreshBounded()
    {
        var tenant = await Fx.CreateTenantAsync();
        var session = await CheckoutAsync(tenant, "pro");
        async Task<(HttpStatusCode, string)> Page(string path)
        {
            var response = await Fx.Client.GetAsync(path, Ct);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
        }

        // A made-up id: Stripe does not know it, so nothing is claimed and nothing refreshes.
        var (unknownStatus, unknown) = await Page("/billing/checkout/success?session_id=cs_test_doesnotexist");
        Assert.Equal(HttpStatusCode.NotFound, unknownStatus);
        Assert.Contains("<strong>Status:</strong> unknown", unknown, StringComparison.Ordinal);
        Assert.DoesNotContain("Payment received", unknown, StringComparison.Ordinal);
        Assert.DoesNotContain("refresh", unknown, StringComparison.Ordinal);

        // Open (the customer has not paid): not paid, no refresh.
        var (openStatus, open) = await Page($"/billing/checkout/success?session_id={session}");
        Assert.Equal(HttpStatusCode.OK, openStatus);
        Assert.Contains("open, not paid", open, StringComparison.Ordinal);
        Assert.DoesNotContain("Payment received", open, StringComparison.Ordinal);
        Assert.DoesNotContain("refresh", open, StringComparison.Ordinal);

        // Paid at Stripe, our webhook not applied yet: pending sync, refreshing with a count, until the bound.
        var completed = await World.Stripe.State.CompleteCheckoutSessionAsync(session, Ct);
        var (_, pending) = await Page($"/billing/checkout/success?session_id={session}");
        Assert.Contains("Payment received", pending, StringComparison.Ordinal);
        Assert.Contains("pending sync", pending, StringComparison.Ordinal);
        Assert.Contains($"http-equiv=\"refresh\" content=\"2;url=/billing/checkout/success?session_id={session}&amp;n=1\"", pending, StringComparison.Ordinal);
        var (_, last) = await Page($"/billing/checkout/success?session_id={session}&n={Subscriptions.CheckoutPages.MaxRefreshes}");
        Assert.Contains("pending sync", last, StringComparison.Ordinal);
        Assert.Contains("stopped refreshing", last, StringComparison.Ordinal);
        Assert.DoesNotContain("http-equiv", last, StringComparison.Ordinal);

        await World.DeliverAsync(completed);
        var (_, active) = await Page($"/billing/checkout/success?session_id={session}");
        Assert.Contains("<strong>Plan:</strong> pro", active, StringComparison.Ordinal);
        Assert.DoesNotContain("refresh", active, StringComparison.Ordinal);

        // Expired before payment.
        var other = await Fx.CreateTenantAsync();
        var abandoned = await CheckoutAsync(other, "pro");
        await World.StripeNet.V1.Checkout.Sessions.ExpireAsync(abandoned, cancellationToken: Ct);
        var (_, expired) = await Page($"/billing/checkout/success?session_id={abandoned}");
        Assert.Contains("expired, not paid", expired, StringComparison.Ordinal);
        Assert.DoesNotContain("Payment received", expired, StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.BadRequest, (await Page("/billing/checkout/success")).Item1);
        Assert.Equal(HttpStatusCode.OK, (await Page("/billing/checkout/canceled")).Item1);
        Assert.Equal(HttpStatusCode.OK, (await Page("/billing/portal/returned")).Item1);
    }

    [Fact]
    public async Task SuccessPage_LooksUpTheStoredEventByIndex()
    {
        // The partial expression index exists and the page's query uses it (no scan of stripe_events per refresh).
        var plan = await Fx.DbAsync(async db =>
        {
            await using var conn = new Npgsql.NpgsqlConnection(db.Database.GetConnectionString());
            await conn.OpenAsync(Ct);
            await using (var off = new Npgsql.NpgsqlCommand("SET enable_seqscan = off", conn))
            {
                await off.ExecuteNonQueryAsync(Ct);
            }

            await using var explain = new Npgsql.NpgsqlCommand(
                "EXPLAIN SELECT * FROM stripe_events WHERE type = 'checkout.session.completed' AND (payload->'data'->'object'->>'id') = 'cs_x' ORDER BY received_at DESC LIMIT 1", conn);
            var lines = new List<string>();
            await using var reader = await explain.ExecuteReaderAsync(Ct);
            while (await reader.ReadAsync(Ct))
            {
                lines.Add(reader.GetString(0));
            }

            return string.Join("\n", lines);
        });
        Assert.Contains("ix_stripe_events_checkout_session", plan, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Checkout_RefusesBadPlansSubscribedAndSuspendedTenants()
    {
        var tenant = await Fx.CreateTenantAsync();
        foreach (var (plan, detail) in new[] { ("gold", "not in the catalog"), ("free", "not purchasable") })
        {
            var (response, json) = await SendAsync(HttpMethod.Post, "/billing/checkout", Owner(tenant), new { plan_id = plan });
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains(detail, (string)json!["detail"]!);
        }

        var (missing, _) = await SendAsync(HttpMethod.Post, "/billing/checkout", Owner(tenant), new { });
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        var (badKey, _) = await SendAsync(HttpMethod.Post, "/billing/checkout", Owner(tenant), new { plan_id = "pro" }, new string('k', 201));
        Assert.Equal(HttpStatusCode.BadRequest, badKey.StatusCode);

        var (subscribed, _) = await SubscribedTenantAsync("business");
        var (same, sameJson) = await SendAsync(HttpMethod.Post, "/billing/checkout", Owner(subscribed), new { plan_id = "business" });
        Assert.Equal(HttpStatusCode.Conflict, same.StatusCode);
        Assert.Contains("already on plan 'business'", (string)sameJson!["detail"]!);
        var (other, otherJson) = await SendAsync(HttpMethod.Post, "/billing/checkout", Owner(subscribed), new { plan_id = "pro" });
        Assert.Equal(HttpStatusCode.Conflict, other.StatusCode);
        Assert.Contains("/billing/subscription/change", (string)otherJson!["detail"]!);

        var (suspend, _) = await Fx.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/suspend", Fx.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, suspend.StatusCode);
        World.Stripe.State.ClearRequests();
        // A suspended tenant's own tokens are refused before any billing logic runs (TenantStatusGate).
        var (suspended, suspendedJson) = await SendAsync(HttpMethod.Post, "/billing/checkout", Owner(tenant), new { plan_id = "pro" });
        Assert.Equal(HttpStatusCode.Forbidden, suspended.StatusCode);
        Assert.Contains("suspended", (string)suspendedJson!["detail"]!);
        Assert.Empty(World.Stripe.State.Requests);
    }

    [Fact]
    public async Task Checkout_AfterATrialEnded_OffersNoSecondTrial()
    {
        var (tenant, sub) = await SubscribedTenantAsync("pro"); // trialing
        await World.DeliverAsync(await World.Stripe.State.DeleteSubscriptionAsync(sub, Ct));
        Assert.Equal("canceled", (await World.RowAsync(tenant)).StripeStatus);
        World.Stripe.State.ClearRequests();

        await CheckoutAsync(tenant, "pro");
        var sent = Assert.Single(StripeRequests("POST", "/v1/checkout/sessions"));
        Assert.False(sent.Form.ContainsKey("subscription_data[trial_period_days]"));
        Assert.Equal((await World.RowAsync(tenant)).StripeCustomerId, sent.Form["customer"]);
        Assert.Empty(StripeRequests("POST", "/v1/customers")); // the stored customer is reused
    }

    [Fact]
    public async Task Checkout_StripeFailure_IsAProblemDetailsAndNothingIsAudited()
    {
        var tenant = await Fx.CreateTenantAsync();
        World.Stripe.State.AddFault(new FakeFault("/v1/checkout/sessions", 500, Count: 1));
        var (response, json) = await SendAsync(HttpMethod.Post, "/billing/checkout", Owner(tenant), new { plan_id = "business" });
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("Stripe unavailable", (string)json!["title"]!);
        Assert.DoesNotContain(await World.AuditAsync(tenant), a => a.Action == "billing.checkout_session_created");
    }

    [Fact]
    public async Task Portal_WithoutCustomer_Is409_WithCustomer_SessionForThatCustomerAndAudited()
    {
        var tenant = await Fx.CreateTenantAsync();
        var (none, noneJson) = await SendAsync(HttpMethod.Post, "/billing/portal", Owner(tenant));
        Assert.Equal(HttpStatusCode.Conflict, none.StatusCode);
        Assert.Contains("no Stripe customer", (string)noneJson!["detail"]!);

        var (subscribed, _) = await SubscribedTenantAsync("pro");
        World.Stripe.State.ClearRequests();
        var (response, json) = await SendAsync(HttpMethod.Post, "/billing/portal", Fx.Token(Roles.Admin, subscribed, "bob"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("bps_", (string)json!["id"]!);
        var sent = Assert.Single(StripeRequests("POST", "/v1/billing_portal/sessions"));
        Assert.Equal(((await World.RowAsync(subscribed)).StripeCustomerId, SelfServiceWorld.ReturnUrl), (sent.Form["customer"], sent.Form["return_url"]));
        var audit = Assert.Single(await World.AuditAsync(subscribed), a => a.Action == "billing.portal_session_created");
        Assert.Equal("admin:bob", audit.Actor);
    }

    [Fact]
    public async Task Portal_TokenOfTenantB_NeverOpensTenantAsCustomer()
    {
        var (a, _) = await SubscribedTenantAsync("pro");
        var b = await Fx.CreateTenantAsync();
        World.Stripe.State.ClearRequests();
        var (response, _) = await SendAsync(HttpMethod.Post, "/billing/portal", Owner(b));
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode); // B has no customer; A's is never used
        Assert.Empty(World.Stripe.State.Requests);
        Assert.DoesNotContain(await World.AuditAsync(a), x => x.Action == "billing.portal_session_created");
    }

    [Fact]
    public async Task Upgrade_TakesEffectAtOnce_WithProrations_AndTheLaterWebhookChangesNothing()
    {
        var (tenant, sub) = await SubscribedTenantAsync("pro");
        var before = await World.RowAsync(tenant);
        World.Stripe.State.ClearRequests();
        var (response, json) = await SendAsync(HttpMethod.Post, "/billing/subscription/change", Owner(tenant), new { plan_id = "business" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(("upgrade", "business", "pro"), ((string)json!["change"]!, (string)json["plan_id"]!, (string)json["previous_plan_id"]!));
        Assert.Equal("business", (string)json["entitlement"]!["plan_id"]!);

        var update = Assert.Single(StripeRequests("POST", $"/v1/subscriptions/{sub}"));
        Assert.Equal(BusinessPrice, update.Form["items[0][price]"]);
        Assert.StartsWith("si_", update.Form["items[0][id]"]);
        Assert.Equal("create_prorations", update.Form["proration_behavior"]);
        Assert.Equal("business", update.Form["metadata[plan_id]"]);

        // Our row and the snapshot changed without any webhook delivered.
        var row = await World.RowAsync(tenant);
        Assert.Equal("business", row.PlanId);
        Assert.True(row.Version > before.Version);
        var snapshot = await Fx.WaitForSnapshotAsync(tenant, s => s.Version >= row.Version);
        Assert.Equal("business", snapshot!.PlanId);
        Assert.True(snapshot.Features.ContainsKey("sso"));

        // Stripe's customer.subscription.updated arrives later: nothing changes.
        var eventId = await LatestEventAsync("customer.subscription.updated", sub);
        Assert.Equal("applied", await Fx.DeliverAsync(World.EventBody(eventId)));
        Assert.Equal(row.Version, (await World.RowAsync(tenant)).Version);

        var audit = await World.AuditAsync(tenant);
        var upgraded = Assert.Single(audit, a => a.Action == "billing.plan_upgraded");
        Assert.Equal("owner:alice", upgraded.Actor);
        Assert.Equal("business", (string)JsonNode.Parse(upgraded.After!)!["to_plan_id"]!);
    }

    [Fact]
    public async Task Downgrade_IsPendingUntilThePeriodEnds_ThenTheJobAppliesIt()
    {
        // Passes scoped to this tenant: what other tests of the class leave pending is not counted here.
        var job = Fx.Factory.Services.GetRequiredService<PendingPlanChangeJob>();
        var (tenant, sub) = await SubscribedTenantAsync("business");
        var row = await World.RowAsync(tenant);
        Assert.Equal("active", row.StripeStatus);
        World.Stripe.State.ClearRequests();

        var (response, json) = await SendAsync(HttpMethod.Post, "/billing/subscription/change", Owner(tenant), new { plan_id = "pro" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(("downgrade_scheduled", false), ((string)json!["change"]!, (bool)json["soft_locked"]!));
        Assert.Equal(row.CurrentPeriodEnd, DateTimeOffset.Parse((string)json["effective_at"]!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.DoesNotContain(World.Stripe.State.Requests, r => r.Method == "POST"); // nothing changes in Stripe before the period ends

        row = await World.RowAsync(tenant);
        Assert.Equal(("business", "pro", row.CurrentPeriodEnd), (row.PlanId, row.PendingPlanId, row.PendingPlanEffectiveAt));
        var (get, view) = await Fx.SendAsync(HttpMethod.Get, "/billing/entitlements", Fx.Token(Roles.Member, tenant));
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal("business", (string)view!["plan_id"]!);
        Assert.Equal("pro", (string)view["pending_change"]!["plan_id"]!);
        Assert.Equal(row.CurrentPeriodEnd, DateTimeOffset.Parse((string)view["pending_change"]!["effective_at"]!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("pro", Snapshots.EntitlementChanges.ToState(row, false).PendingPlanId);

        Assert.Equal(new PendingChangeRun(0, 0, 0), await job.RunDueAsync(row.CurrentPeriodEnd!.Value.AddSeconds(-1), tenant, Ct));
        Assert.Equal("business", (await World.RowAsync(tenant)).PlanId);

        Assert.Equal(new PendingChangeRun(1, 0, 0), await job.RunDueAsync(row.CurrentPeriodEnd!.Value.AddSeconds(1), tenant, Ct));
        var update = Assert.Single(StripeRequests("POST", $"/v1/subscriptions/{sub}"));
        Assert.Equal((TestServices.ProPrice, "none"), (update.Form["items[0][price]"], update.Form["proration_behavior"]));
        var applied = await World.RowAsync(tenant);
        Assert.Equal(("pro", (string?)null, (DateTimeOffset?)null), (applied.PlanId, applied.PendingPlanId, applied.PendingPlanEffectiveAt));
        var snapshot = await Fx.WaitForSnapshotAsync(tenant, s => s.Version >= applied.Version);
        Assert.Equal("pro", snapshot!.PlanId);
        Assert.Contains(await World.AuditAsync(tenant), a => a.Action == "billing.downgrade_applied" && a.Actor == PendingPlanChangeJob.Actor);
        Assert.Equal(new PendingChangeRun(0, 0, 0), await job.RunDueAsync(row.CurrentPeriodEnd!.Value.AddSeconds(2), tenant, Ct)); // nothing left
    }

    [Fact]
    public async Task PendingDowngrade_IsClearedByDeleteByChoosingTheCurrentPlanAndByAnUpgrade()
    {
        var (tenant, _) = await SubscribedTenantAsync("business");
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/billing/subscription/change", Owner(tenant), new { plan_id = "pro" })).Response.StatusCode);
        var (deleted, deletedJson) = await SendAsync(HttpMethod.Delete, "/billing/subscription/change", Owner(tenant));
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        Assert.Null(deletedJson!["pending_change"]);
        Assert.Null((await World.RowAsync(tenant)).PendingPlanId);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Delete, "/billing/subscription/change", Owner(tenant))).Response.StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/billing/subscription/change", Owner(tenant), new { plan_id = "pro" })).Response.StatusCode);
        var (kept, keptJson) = await SendAsync(HttpMethod.Post, "/billing/subscription/change", Owner(tenant), new { plan_id = "business" });
        Assert.Equal(HttpStatusCode.OK, kept.StatusCode);
        Assert.Equal("pending_change_cleared", (string)keptJson!["change"]!);
        Assert.Null((await World.RowAsync(tenant)).PendingPlanId);
        var (again, _) = await SendAsync(HttpMethod.Post, "/billing/subscription/change", Owner(tenant), new { plan_id = "business" });
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);

        // An upgrade clears a pending change too (planted on a pro tenant's row, as a downgrade would leave it).
        var (proTenant, _) = await SubscribedTenantAsync("pro");
        await using (var scope = Fx.Factory.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<EntitlementsDbContext>();
            await db.Entitlements.Where(e => e.TenantId == proTenant).ExecuteUpdateAsync(s => s.SetProperty(e => e.PendingPlanId, "pro").SetProperty(e => e.PendingPlanEffectiveAt, DateTimeOffset.UtcNow.AddDays(10)), Ct);
        }

        var (upgrade, _) = await SendAsync(HttpMethod.Post, "/billing/subscription/change", Owner(proTenant), new { plan_id = "business" });
        Assert.Equal(HttpStatusCode.OK, upgrade.StatusCode);
        var row = await World.RowAsync(proTenant);
        Assert.Equal(("business", (string?)null), (row.PlanId, row.PendingPlanId));
        Assert.Contains(await World.AuditAsync(proTenant), a => a.Action == "billing.pending_change_canceled");
    }

    [Fact]
    public async Task Downgrade_BelowCurrentUsage_IsRefusedWithWhatToReduce()
    {
        var (tenant, _) = await SubscribedTenantAsync("business");
        await SetUsageAsync(tenant, "exports", ResetPeriod.Day, 60); // pro allows 50 exports a day
        World.Stripe.State.ClearRequests();
        var (response, json) = await SendAsync(HttpMethod.Post, "/billing/subscription/change", Owner(tenant), new { plan_id = "pro" });
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        var resets = QuotaWindow.For(ResetPeriod.Day, DateTimeOffset.UtcNow).End;
        Assert.Equal($"exports: used 60 today, plan 'pro' allows 50: reduce usage by 10 or wait for the window to reset on {resets:yyyy-MM-dd}", (string)json!["detail"]!);
        Assert.Equal(60, (long)json["over_usage"]![0]!["used"]!);
        Assert.Null((await World.RowAsync(tenant)).PendingPlanId);
        Assert.DoesNotContain(World.Stripe.State.Requests, r => r.Method == "POST");

        // Under the limit: accepted.
        await SetUsageAsync(tenant, "exports", ResetPeriod.Day, 50);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/billing/subscription/change", Owner(tenant), new { plan_id = "pro" })).Response.StatusCode);
    }

    [Fact]
    public async Task Cancel_KeepsAccessUntilThePeriodEndWithTheDeadline_ResumeUndoesIt()
    {
        var (tenant, sub) = await SubscribedTenantAsync("business");
        World.Stripe.State.ClearRequests();
        var (response, json) = await SendAsync(HttpMethod.Post, "/billing/subscription/cancel", Owner(tenant));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True((bool)json!["cancel_at_period_end"]!);
        var sent = Assert.Single(StripeRequests("POST", $"/v1/subscriptions/{sub}"));
        Assert.Equal("true", sent.Form["cancel_at_period_end"]);

        var row = await World.RowAsync(tenant);
        Assert.True(row.CancelAtPeriodEnd);
        var snapshot = await Fx.WaitForSnapshotAsync(tenant, s => s.Version >= row.Version);
        Assert.Equal(("business", SubscriptionState.Active), (snapshot!.PlanId, snapshot.SubscriptionState)); // access kept
        Assert.Equal(row.CurrentPeriodEnd, snapshot.AccessDeadline);
        Assert.Equal((AccessMode.Full, row.CurrentPeriodEnd), (snapshot.AccessAt(DateTimeOffset.UtcNow).Mode, snapshot.AccessAt(DateTimeOffset.UtcNow).Deadline));
        Assert.Contains(await World.AuditAsync(tenant), a => a.Action == "billing.cancel_at_period_end" && a.Actor == "owner:alice");

        // Resume before the period ends: the deadline goes away.
        var (resumed, resumedJson) = await SendAsync(HttpMethod.Post, "/billing/subscription/resume", Owner(tenant));
        Assert.Equal(HttpStatusCode.OK, resumed.StatusCode);
        Assert.False((bool)resumedJson!["cancel_at_period_end"]!);
        row = await World.RowAsync(tenant);
        Assert.False(row.CancelAtPeriodEnd);
        snapshot = await Fx.WaitForSnapshotAsync(tenant, s => s.Version >= row.Version);
        Assert.Null(snapshot!.AccessDeadline);
        Assert.Equal("false", StripeRequests("POST", $"/v1/subscriptions/{sub}")[^1].Form["cancel_at_period_end"]);

        // No Idempotency-Key: the Stripe key derives from the row's version, so cancelling again after the resume is a new call
        // (a retry of the same request on the same version would be the same call, answered again by Stripe).
        var version = row.Version;
        var (again, againJson) = await SendAsync(HttpMethod.Post, "/billing/subscription/cancel", Owner(tenant));
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.True((bool)againJson!["cancel_at_period_end"]!);
        Assert.True(World.Subscription(sub)["cancel_at_period_end"]!.GetValue<bool>());
        var keys = StripeRequests("POST", $"/v1/subscriptions/{sub}").Select(r => r.IdempotencyKey).ToList();
        Assert.Equal(3, keys.Distinct().Count());
        Assert.Equal(StripeNetBilling.IdempotencyKeyFor($"/v1/subscriptions/{sub}", $"cancel:{tenant}:production:{sub}:state:v{version}"), keys[^1]);
    }

    [Fact]
    public async Task Cancel_ClearsAPendingDowngrade()
    {
        var (tenant, _) = await SubscribedTenantAsync("business");
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/billing/subscription/change", Owner(tenant), new { plan_id = "pro" })).Response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/billing/subscription/cancel", Owner(tenant))).Response.StatusCode);
        var row = await World.RowAsync(tenant);
        Assert.Equal((true, (string?)null), (row.CancelAtPeriodEnd, row.PendingPlanId));
    }

    [Fact]
    public async Task PlanChangeCancelResume_TokenOfTenantB_NeverTouchTenantAsSubscription()
    {
        var (a, subA) = await SubscribedTenantAsync("business");
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/billing/subscription/change", Owner(a), new { plan_id = "pro" })).Response.StatusCode);
        var rowA = await World.RowAsync(a);
        var b = await Fx.CreateTenantAsync();
        World.Stripe.State.ClearRequests();

        foreach (var (method, path) in new[] { ("POST", "/billing/subscription/change"), ("POST", "/billing/subscription/cancel"), ("POST", "/billing/subscription/resume") })
        {
            var (response, _) = await SendAsync(new HttpMethod(method), path, Owner(b), new { plan_id = "pro" });
            Assert.Equal(HttpStatusCode.Conflict, response.StatusCode); // B has no subscription; A's is not reachable
        }

        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Delete, "/billing/subscription/change", Owner(b))).Response.StatusCode);
        Assert.DoesNotContain(World.Stripe.State.Requests, r => r.Path.Contains(subA, StringComparison.Ordinal));
        var after = await World.RowAsync(a);
        Assert.Equal((rowA.Version, "pro", false), (after.Version, after.PendingPlanId, after.CancelAtPeriodEnd));
    }

    [Fact]
    public async Task PlanChange_WithoutSubscription_Is409_AndUnknownPlan_Is400()
    {
        var tenant = await Fx.CreateTenantAsync();
        var (none, noneJson) = await SendAsync(HttpMethod.Post, "/billing/subscription/change", Owner(tenant), new { plan_id = "business" });
        Assert.Equal(HttpStatusCode.Conflict, none.StatusCode);
        Assert.Contains("/billing/checkout", (string)noneJson!["detail"]!);

        var (subscribed, _) = await SubscribedTenantAsync("pro");
        var (unknown, _) = await SendAsync(HttpMethod.Post, "/billing/subscription/change", Owner(subscribed), new { plan_id = "gold" });
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        var (free, _) = await SendAsync(HttpMethod.Post, "/billing/subscription/change", Owner(subscribed), new { plan_id = "free" });
        Assert.Equal(HttpStatusCode.BadRequest, free.StatusCode); // the baseline has no price: cancel instead
    }

    /// <summary>The id of the newest event of <paramref name="type"/> about <paramref name="subscriptionId"/> the fake emitted.</summary>
    private async Task<string> LatestEventAsync(string type, string subscriptionId)
    {
        var events = await World.EventsAsync(type, Ct); // newest first
        return events.First(e => (e.Data.Object as global::Stripe.IHasId)?.Id == subscriptionId).Id;
    }
}

/// <summary>ED_DOWNGRADE_OVER_USAGE=soft_lock: a downgrade over usage is accepted, flagged in the answer and the audit.</summary>
public sealed class SoftLockDowngradeTests(SoftLockWorld world) : SelfServiceTestBase(world), IClassFixture<SoftLockWorld>
{
    [Fact]
    public async Task Downgrade_OverUsage_IsAcceptedSoftLockedAndAudited()
    {
        var (tenant, _) = await SubscribedTenantAsync("business");
        await SetUsageAsync(tenant, "exports", ResetPeriod.Day, 75);
        var (response, json) = await SendAsync(HttpMethod.Post, "/billing/subscription/change", Owner(tenant), new { plan_id = "pro" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True((bool)json!["soft_locked"]!);
        Assert.Equal(("exports", 75L, 50L), ((string)json["over_usage"]![0]!["feature"]!, (long)json["over_usage"]![0]!["used"]!, (long)json["over_usage"]![0]!["limit"]!));
        Assert.Equal("pro", (await World.RowAsync(tenant)).PendingPlanId);
        var audit = Assert.Single(await World.AuditAsync(tenant), a => a.Action == "billing.downgrade_scheduled");
        var details = JsonNode.Parse(audit.After!)!["details"]!;
        Assert.True((bool)details["soft_locked"]!);
        Assert.Equal("exports", (string)details["over_usage"]![0]!["feature"]!);
    }
}
