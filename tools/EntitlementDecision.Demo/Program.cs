// The demo of ./run.sh --demo. It plays one tenant's Stripe subscription against the running control plane and
// prints the sidecar's gRPC answer for a feature of the paid plan before the subscription, after it, and after its
// cancellation. Events are Stripe's published example objects (testdata/stripe), signed the way Stripe signs.
// Exit code 0 when every answer is the expected one, 1 otherwise.
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Grpc;
using EntitlementDecision.Stripe;
using EntitlementDecision.Stripe.Tests;

var controlPlane = new Uri(Required("ED_CONTROLPLANE_URL"));
var sidecar = new Uri(Required("ED_SIDECAR_URL"));
var webhookSecret = Required("STRIPE_WEBHOOK_SECRET").Split(',')[0].Trim();
var operatorToken = Required("ED_DEMO_OPERATOR_TOKEN");
const string Feature = "advanced_reports";
const string ProPrice = "price_1PgafmB7WZ01zgkW6dKueIc5"; // the price of Stripe's fixture subscription; catalog/plans.json maps it to "pro"

var run = DateTimeOffset.UtcNow.ToString("yyyyMMddHHmmss");
var tenant = $"demo-{run}";
var subscriptionId = $"sub_demo_{run}";

using var http = new HttpClient { BaseAddress = controlPlane, Timeout = TimeSpan.FromSeconds(10) };
http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", operatorToken);
var grpc = new GrpcClient(new HttpClient(new SocketsHttpHandler()) { BaseAddress = sidecar });
var failures = 0;

Console.WriteLine($"EntitlementDecision demo: tenant {tenant}, feature '{Feature}', sidecar {sidecar}");
Console.WriteLine();

var created = await http.PostAsJsonAsync("/tenants", new { tenant_id = tenant, name = "Demo Tenant " + run, environment = "production" });
Expect(created.IsSuccessStatusCode, $"POST /tenants -> {(int)created.StatusCode}");

var before = await WaitForAnswer(r => r.Reason != DecisionReason.UnknownTenant);
Print("1. before the subscription", before.Response, before.Elapsed);
Expect(!before.Response.Allowed && before.Response.Reason == DecisionReason.NotInPlan && before.Response.PlanId == "free", "free plan: not in plan");

var now = DateTimeOffset.UtcNow;
var subscribed = StripeEventBuilder.Subscription("customer.subscription.created")
    .WithEventId($"evt_demo_{run}_created").WithCreated(now)
    .WithObjectId(subscriptionId).WithStatus("active").WithPriceIds(ProPrice)
    .WithItemCurrentPeriodEnd(0, now.AddMonths(1)).WithCancelAtPeriodEnd(false).WithCanceledAt(null)
    .WithMetadata("tenant_id", tenant).WithMetadata("environment", "production");
await PostWebhook("customer.subscription.created (status active, price " + ProPrice + ")", subscribed.ToUtf8Bytes());
var after = await WaitForAnswer(r => r.PlanId == "pro");
Print("2. after the subscription", after.Response, after.Elapsed);
Expect(after.Response.Allowed && after.Response.Reason == DecisionReason.Granted, "pro plan: granted");

var canceledBody = subscribed.WithType("customer.subscription.deleted").WithEventId($"evt_demo_{run}_deleted")
    .WithCreated(now.AddSeconds(1)).WithStatus("canceled").WithCanceledAt(now.AddSeconds(1)).ToUtf8Bytes();
await PostWebhook("customer.subscription.deleted (status canceled)", canceledBody);
var canceled = await WaitForAnswer(r => r.PlanId == "free");
Print("3. after the cancellation", canceled.Response, canceled.Elapsed);
Expect(!canceled.Response.Allowed && canceled.Response.Reason == DecisionReason.SubscriptionInactive, "canceled: subscription inactive");

// Stripe retries and reorders deliveries: neither may change the answer.
await PostWebhook("the same customer.subscription.deleted again (a retry)", canceledBody);
var late = subscribed.WithType("customer.subscription.updated").WithEventId($"evt_demo_{run}_late_update")
    .WithCreated(now).WithStatus("active").WithCanceledAt(null).ToUtf8Bytes();
await PostWebhook("an older customer.subscription.updated (status active) delivered late", late);
var final = await Check();
Print("4. after the retry and the late event", final, null);
Expect(!final.Allowed && final.Reason == DecisionReason.SubscriptionInactive && final.SnapshotVersion == canceled.Response.SnapshotVersion,
    "retry and late event change nothing (same snapshot version)");

Console.WriteLine();
Console.WriteLine(failures == 0 ? "demo: all answers as expected" : $"demo: {failures} unexpected answer(s)");
return failures == 0 ? 0 : 1;

async Task PostWebhook(string what, byte[] body)
{
    using var request = new HttpRequestMessage(HttpMethod.Post, "/billing/webhook") { Content = new ByteArrayContent(body) };
    request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
    request.Headers.Add("Stripe-Signature", WebhookSignature.CreateHeader(body, webhookSecret, DateTimeOffset.UtcNow));
    using var response = await http.SendAsync(request);
    var text = await response.Content.ReadAsStringAsync();
    Console.WriteLine($"   webhook: {what} -> HTTP {(int)response.StatusCode} {text}");
    Expect(response.IsSuccessStatusCode, "webhook accepted");
}

async Task<CheckEntitlementResponse> Check() =>
    await grpc.UnaryAsync("/entitlements.v1.EntitlementDecisionService/CheckEntitlement",
        new CheckEntitlementRequest { TenantId = tenant, Environment = "production", FeatureKey = Feature },
        CheckEntitlementResponse.Parser, new CallOptions(Timeout: TimeSpan.FromSeconds(2)));

// Polls the sidecar (every 5 ms, at most 5 s) until the answer satisfies the condition; returns it and how long that took.
async Task<(CheckEntitlementResponse Response, TimeSpan Elapsed)> WaitForAnswer(Func<CheckEntitlementResponse, bool> condition)
{
    var clock = Stopwatch.StartNew();
    while (true)
    {
        var response = await Check();
        if (condition(response) || clock.Elapsed > TimeSpan.FromSeconds(5))
        {
            return (response, clock.Elapsed);
        }

        await Task.Delay(5);
    }
}

void Print(string step, CheckEntitlementResponse r, TimeSpan? elapsed) =>
    Console.WriteLine($"{step}: CheckEntitlement({tenant}, {Feature}) -> allowed={r.Allowed.ToString().ToLowerInvariant()} reason={r.Reason} plan={r.PlanId} snapshot_version={r.SnapshotVersion}"
        + (elapsed is { } e ? $"  (sidecar answered so {e.TotalMilliseconds:0} ms after the request)" : ""));

void Expect(bool condition, string what)
{
    if (!condition)
    {
        failures++;
        Console.WriteLine($"   UNEXPECTED: {what}");
    }
}

static string Required(string name) =>
    Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : throw new InvalidOperationException($"{name} is not set (./run.sh --demo sets it)");
