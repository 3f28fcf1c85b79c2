// The demo of ./run.sh --demo: one tenant's subscription through trial, active, past_due (grace, then read-only), paid
// again, upgraded and canceled, with the sidecar's gRPC answer at each step. Stripe is the fake Stripe API that run.sh
// starts (tools/EntitlementDecision.FakeStripe): the tenant's owner asks the control plane for a Checkout Session, the fake
// "completes" it and, like Stripe, posts signed webhooks to the control plane for every change it is told to make.
// run.sh compresses the dunning policy's days to seconds (ED_DUNNING_*_DAYS) so that grace can end during the demo.
// Exit code 0 when every answer is the expected one, 1 otherwise.
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using EntitlementDecision.Client;
using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Stripe;

var controlPlane = new Uri(Required("ED_CONTROLPLANE_URL"));
var sidecar = new Uri(Required("ED_SIDECAR_URL"));
var fakeStripe = new Uri(Required("ED_FAKE_STRIPE_URL"));
var webhookSecret = Required("STRIPE_WEBHOOK_SECRET").Split(',')[0].Trim();
var tenant = Required("ED_DEMO_TENANT");
var operatorToken = Required("ED_DEMO_OPERATOR_TOKEN");
var ownerToken = Required("ED_DEMO_OWNER_TOKEN");
var secondOperatorToken = Required("ED_DEMO_SECOND_OPERATOR_TOKEN");
const string Env = "production";

using var asOperator = Client(controlPlane, operatorToken);
using var asOwner = Client(controlPlane, ownerToken);
using var asSecondOperator = Client(controlPlane, secondOperatorToken);
using var stripe = new HttpClient { BaseAddress = fakeStripe, Timeout = TimeSpan.FromSeconds(10) };
// The client SDK a product service uses; a fallback (the sidecar did not answer) counts as a failure of the demo.
var (entitlements, channel) = EntitlementClientFactory.Create(new EntitlementClientOptions { Address = sidecar, Environment = Env, Deadline = TimeSpan.FromSeconds(2) });
using var _ = channel;
var failures = 0;
var step = 0;

Console.WriteLine($"EntitlementDecision demo: tenant {tenant}; the sidecar ({sidecar}) is asked for 'advanced_reports' (a read of the");
Console.WriteLine("pro plan), 'projects' (a write: denied while read-only) and 'sso' (business plan only).");
Console.WriteLine();

var created = await asOperator.PostAsJsonAsync("/tenants", new { tenant_id = tenant, name = "Demo Tenant", environment = Env });
Expect(created.IsSuccessStatusCode, $"POST /tenants -> {(int)created.StatusCode}");
var free = await WaitFor("advanced_reports", r => r.Reason != DecisionReason.UnknownTenant);
Show("a new tenant, no subscription", "advanced_reports", free);
Expect(!free.Allowed && free.Reason == DecisionReason.NotInPlan && free.PlanId == "free", "free plan: advanced_reports not in plan");

// Checkout: the owner asks for a session; the fake Stripe plays the customer paying on Stripe's hosted page.
var checkout = await Json(await asOwner.PostAsJsonAsync("/billing/checkout", new { plan_id = "pro" }), "POST /billing/checkout {plan_id: pro}");
var sessionId = (string?)checkout?["id"] ?? "";
Console.WriteLine($"   checkout session {sessionId}: {(string?)checkout?["url"]}");
var completed = await Control($"/_fake/checkout/sessions/{sessionId}/complete", "the customer completes the checkout (pro has a 14-day trial)");
var subscription = (string?)completed?["object"]?["id"] ?? "";
var trial = await WaitFor("advanced_reports", r => r.PlanId == "pro");
Show("trialing", "advanced_reports", trial);
Expect(trial.Allowed && trial.AccessMode == AccessMode.Full && trial.AccessDeadline is not null, "trial: granted, full access until the trial ends");

await Control($"/_fake/subscriptions/{subscription}/trial_will_end", "Stripe announces the trial's end (customer.subscription.trial_will_end)");
await Control($"/_fake/subscriptions/{subscription}/end_trial", "the trial ends and the first invoice is paid");
var active = await WaitFor("advanced_reports", r => r.AccessDeadline is null);
Show("active", "advanced_reports", active);
Expect(active.Allowed && active.AccessMode == AccessMode.Full, "active: granted, full access");

await Control($"/_fake/subscriptions/{subscription}/payment_failed", "a renewal payment fails (invoice.payment_failed, status past_due)");
var grace = await WaitFor("projects", r => r.AccessMode == AccessMode.Grace);
Show("past_due, grace period", "projects", grace);
Expect(grace.Allowed && grace.AccessDeadline is not null, "grace: writes still allowed until the grace period ends");

var graceEnds = grace.AccessDeadline?.ToDateTimeOffset() ?? DateTimeOffset.UtcNow;
var wait = graceEnds - DateTimeOffset.UtcNow;
Console.WriteLine($"   ... waiting {Math.Max(0, wait.TotalSeconds):0.0} s for the grace period to end (no new event: the sidecar follows its clock)");
var readOnlyWrite = await WaitFor("projects", r => r.AccessMode != AccessMode.Grace, wait + TimeSpan.FromSeconds(10));
Show("past_due, read-only", "projects", readOnlyWrite);
Expect(!readOnlyWrite.Allowed && readOnlyWrite.Reason == DecisionReason.ReadOnly, "read-only: a write is denied");
var readOnlyRead = await Check("advanced_reports");
Show("past_due, read-only", "advanced_reports", readOnlyRead);
Expect(readOnlyRead.Allowed && readOnlyRead.AccessMode == AccessMode.ReadOnly, "read-only: a read is allowed");

await Control($"/_fake/subscriptions/{subscription}/pay", "the customer pays the open invoice (invoice.paid, status active)");
var paid = await WaitFor("projects", r => r.AccessMode == AccessMode.Full);
Show("paid again", "projects", paid);
Expect(paid.Allowed, "paid: writes allowed again");

var sso = await Check("sso");
Show("still on pro", "sso", sso);
Expect(!sso.Allowed, "pro: sso not in plan");
await Json(await asOwner.PostAsJsonAsync("/billing/subscription/change", new { plan_id = "business" }), "POST /billing/subscription/change {plan_id: business} (an upgrade: at once, prorated by Stripe)");
var upgraded = await WaitFor("sso", r => r.PlanId == "business");
Show("upgraded", "sso", upgraded);
Expect(upgraded.Allowed, "business: sso granted");

await Json(await asOwner.PostAsync("/billing/subscription/cancel", null), "POST /billing/subscription/cancel (at the period's end)");
var canceling = await WaitFor("sso", r => r.AccessDeadline is not null);
Show("canceled at period end", "sso", canceling);
Expect(canceling.Allowed && canceling.AccessMode == AccessMode.Full, "cancel: access kept until the period ends");

var deleted = await Control($"/_fake/subscriptions/{subscription}/delete", "the period ends: Stripe deletes the subscription (customer.subscription.deleted)");
var canceled = await WaitFor("advanced_reports", r => r.PlanId == "free");
Show("canceled", "advanced_reports", canceled);
Expect(!canceled.Allowed && canceled.Reason == DecisionReason.SubscriptionInactive, "canceled: back on the free plan");

// Stripe redelivers events: the same event again changes nothing.
var deletedEventId = (string?)deleted?["event_ids"]?[0] ?? "";
var eventBody = await (await stripe.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"/v1/events/{deletedEventId}")
{
    Headers = { Authorization = new AuthenticationHeaderValue("Bearer", Required("STRIPE_API_KEY")) },
})).Content.ReadAsByteArrayAsync();
var redelivery = await PostWebhook(eventBody);
Console.WriteLine($"   Stripe redelivers {deletedEventId} -> {redelivery}");
Expect(redelivery.Contains("\"duplicate\":true", StringComparison.Ordinal), "redelivery acknowledged as a duplicate");
var final = await Check("advanced_reports");
Expect(final.SnapshotVersion == canceled.SnapshotVersion, "redelivery changed nothing (same snapshot version)");

// The tenant's lifecycle: suspend, reactivate, delete with a second operator's approval. Each answer's snapshot_version is
// passed as min_snapshot_version, so the sidecar's very next answer shows the change (read-your-writes).
var suspendedAt = await Json(await asOperator.PostAsync($"/tenants/{tenant}/suspend", null), "POST /tenants/{id}/suspend (operator)");
var suspended = await CheckAt("projects", Version(suspendedAt));
Show("suspended by an operator", "projects", suspended);
Expect(!suspended.Allowed && suspended.Reason == DecisionReason.TenantSuspended, "suspended: denied");
var ownRead = await asOwner.GetAsync("/billing/entitlements");
Console.WriteLine($"   the owner's own token at GET /billing/entitlements -> HTTP {(int)ownRead.StatusCode}");
Expect(ownRead.StatusCode == System.Net.HttpStatusCode.Forbidden, "suspended: the tenant's tokens are refused");
var resumedAt = await Json(await asOperator.PostAsync($"/tenants/{tenant}/resume", null), "POST /tenants/{id}/resume (operator)");
var resumed = await CheckAt("projects", Version(resumedAt));
Show("reactivated", "projects", resumed);
Expect(resumed.Allowed, "reactivated: the prior state again");

var requested = await Json(await asOperator.DeleteAsync($"/tenants/{tenant}"), "DELETE /tenants/{id} (operator demo)");
var approvalId = (string?)requested?["approval"]?["id"] ?? "";
Console.WriteLine($"   approval {approvalId}: {(string?)requested?["approval"]?["action"]}, requested by {(string?)requested?["approval"]?["requested_by"]}, expires {(string?)requested?["approval"]?["expires_at"]}");
var selfApproval = await asOperator.PostAsync($"/approvals/{approvalId}/approve", null);
Console.WriteLine($"   the requester approves it himself -> HTTP {(int)selfApproval.StatusCode}");
Expect(selfApproval.StatusCode == System.Net.HttpStatusCode.Forbidden, "the requester cannot approve");
var approved = await Json(await asSecondOperator.PostAsync($"/approvals/{approvalId}/approve", null), "POST /approvals/{id}/approve (a second operator)");
var deletion = approved?["result"];
Console.WriteLine($"   tenant {(string?)deletion?["tenant"]?["status"]}; purge of its personal data at {(string?)deletion?["purge_after"]}");
var tombstoned = await CheckAt("projects", (long?)deletion?["tenant"]?["snapshot_versions"]?[Env] ?? 0);
Show("deleting (tombstoned)", "projects", tombstoned);
Expect(!tombstoned.Allowed && tombstoned.Reason == DecisionReason.TenantSuspended, "deleting: denied everywhere");

var audit = await Json(await asOperator.GetAsync($"/tenants/{tenant}/audit"), null);
var entries = audit?["items"]?.AsArray() ?? audit?["entries"]?.AsArray() ?? (audit as JsonArray);
Console.WriteLine();
Console.WriteLine($"audit: {entries?.Count ?? 0} entries for {tenant} (GET /tenants/{tenant}/audit), e.g.:");
foreach (var e in entries?.Take(16) ?? [])
{
    Console.WriteLine($"   {(string?)e?["at"]}  {(string?)e?["actor"],-24} {(string?)e?["action"],-40} cause {(string?)e?["cause"]}");
}

Console.WriteLine();
Console.WriteLine(failures == 0 ? "demo: all answers as expected" : $"demo: {failures} unexpected answer(s)");
return failures == 0 ? 0 : 1;

static HttpClient Client(Uri baseAddress, string token)
{
    var client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(20) };
    client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    return client;
}

async Task<JsonNode?> Json(HttpResponseMessage response, string? what)
{
    var text = await response.Content.ReadAsStringAsync();
    if (what is not null)
    {
        Console.WriteLine($"   {what} -> HTTP {(int)response.StatusCode}");
    }

    Expect(response.IsSuccessStatusCode, $"{what ?? response.RequestMessage?.RequestUri?.ToString()}: HTTP {(int)response.StatusCode} {text}");
    return text.Length == 0 ? null : JsonNode.Parse(text);
}

async Task<JsonNode?> Control(string path, string what) =>
    await Json(await stripe.PostAsync(path, new StringContent("{}", Encoding.UTF8, "application/json")), $"Stripe: {what}");

async Task<string> PostWebhook(byte[] body)
{
    using var request = new HttpRequestMessage(HttpMethod.Post, "/billing/webhook") { Content = new ByteArrayContent(body) };
    request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
    request.Headers.Add("Stripe-Signature", WebhookSignature.CreateHeader(body, webhookSecret, DateTimeOffset.UtcNow));
    using var response = await asOperator.SendAsync(request);
    return $"HTTP {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
}

async Task<CheckEntitlementResponse> Check(string feature)
{
    var result = await entitlements.CheckAsync(tenant, feature);
    return result.Response ?? throw new InvalidOperationException($"the sidecar did not answer: {result.FallbackCause}");
}

// One check that may not answer from a snapshot older than the version a control-plane answer returned.
async Task<CheckEntitlementResponse> CheckAt(string feature, long minVersion)
{
    var result = await entitlements.CheckAsync(new EntitlementCheck(tenant, feature, MinSnapshotVersion: minVersion));
    return result.Response ?? throw new InvalidOperationException($"the sidecar did not answer: {result.FallbackCause}");
}

static long Version(JsonNode? tenantAnswer) => (long?)tenantAnswer?["snapshot_versions"]?[Env] ?? 0;

// Polls the sidecar every 10 ms until the answer satisfies the condition (at most 10 s unless told); returns the last answer.
async Task<CheckEntitlementResponse> WaitFor(string feature, Func<CheckEntitlementResponse, bool> condition, TimeSpan? atMost = null)
{
    var clock = Stopwatch.StartNew();
    while (true)
    {
        var response = await Check(feature);
        if (condition(response) || clock.Elapsed > (atMost ?? TimeSpan.FromSeconds(10)))
        {
            return response;
        }

        await Task.Delay(10);
    }
}

void Show(string state, string feature, CheckEntitlementResponse r)
{
    var deadline = r.AccessDeadline is { } d ? $" until {d.ToDateTimeOffset():yyyy-MM-dd HH:mm:ss}Z" : "";
    Console.WriteLine($"{++step,2}. {state,-30} {feature,-17} allowed={(r.Allowed ? "true " : "false")} reason={r.Reason,-16} plan={r.PlanId,-9} access={r.AccessMode}{deadline}  v{r.SnapshotVersion}");
}

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
