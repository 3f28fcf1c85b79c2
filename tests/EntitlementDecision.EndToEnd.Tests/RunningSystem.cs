using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using EntitlementDecision.Client;
using EntitlementDecision.Contracts.V1;
using Grpc.Net.Client;
using EntitlementDecision.Stripe;
using EntitlementDecision.TestSupport;

namespace EntitlementDecision.EndToEnd.Tests;

/// <summary>
/// The control plane and sidecar that test.sh started: ED_E2E_CONTROLPLANE_URL, ED_E2E_SIDECAR_URL, ED_E2E_OPERATOR_TOKEN,
/// STRIPE_WEBHOOK_SECRET (comma-separated: the first is used to sign, the second to test rotation).
/// </summary>
public sealed class RunningSystem : IDisposable
{
    public const string ProPrice = "price_1PgafmB7WZ01zgkW6dKueIc5";

    /// <summary>How long an end-to-end effect may take before a test fails: generous, since speed is measured by loadtests/.</summary>
    public static readonly TimeSpan FunctionalDeadline = TimeSpan.FromSeconds(10);

    public RunningSystem()
    {
        ControlPlane = new HttpClient { BaseAddress = new Uri(Required("ED_E2E_CONTROLPLANE_URL")), Timeout = TimeSpan.FromSeconds(10) };
        ControlPlane.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Required("ED_E2E_OPERATOR_TOKEN"));
        SecondOperator = new HttpClient { BaseAddress = ControlPlane.BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
        SecondOperator.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Required("ED_E2E_SECOND_OPERATOR_TOKEN"));
        SidecarUrl = new Uri(Required("ED_E2E_SIDECAR_URL"));
        (Sidecar, _channel) = EntitlementClientFactory.Create(new EntitlementClientOptions { Address = SidecarUrl, Deadline = TimeSpan.FromSeconds(2) });
        WebhookSecrets = Required("STRIPE_WEBHOOK_SECRET").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
    }

    public HttpClient ControlPlane { get; }

    /// <summary>Another operator (ED_E2E_SECOND_OPERATOR_TOKEN): approves what <see cref="ControlPlane"/>'s operator requests.</summary>
    public HttpClient SecondOperator { get; }

    private readonly GrpcChannel _channel;

    public Uri SidecarUrl { get; }

    /// <summary>The client SDK product services use, on the running sidecar.</summary>
    public IEntitlementClient Sidecar { get; }

    public IReadOnlyList<string> WebhookSecrets { get; }

    public static string NewTenantId() => "e2e-" + Guid.NewGuid().ToString("n")[..16];

    /// <summary>Creates the tenant; returns its production snapshot version (for min_snapshot_version).</summary>
    public async Task<long> CreateTenantAsync(string tenantId)
    {
        using var response = await ControlPlane.PostAsJsonAsync("/tenants", new { tenant_id = tenantId, name = "E2E " + tenantId, environment = "production" });
        Assert.True(response.IsSuccessStatusCode, $"POST /tenants -> {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["snapshot_versions"]!["production"]!.GetValue<long>();
    }

    /// <summary>CheckEntitlement through the client SDK; a fallback (the sidecar did not answer) fails the test.</summary>
    public async Task<CheckEntitlementResponse> CheckAsync(string tenantId, string featureKey, long requestedQuantity = 0)
    {
        var result = await Sidecar.CheckAsync(tenantId, featureKey, requestedQuantity);
        Assert.False(result.Fallback, $"the sidecar did not answer: {result.FallbackCause}");
        return result.Response!;
    }

    /// <summary>RecordUsage through the client SDK; a fallback fails the test.</summary>
    public async Task<RecordUsageResponse> RecordUsageAsync(RecordUsageRequest request)
    {
        var result = await Sidecar.RecordUsageAsync(request);
        Assert.False(result.Fallback, $"the sidecar did not answer: {result.FallbackCause}");
        return result.Response!;
    }

    /// <summary>Polls the sidecar every 2 ms until the answer satisfies <paramref name="condition"/> or <paramref name="within"/> passes.
    /// Returns the last answer and how long after the call the condition held (null when it never did).</summary>
    public async Task<(CheckEntitlementResponse Answer, TimeSpan? After)> WaitForAnswerAsync(string tenantId, string featureKey, Func<CheckEntitlementResponse, bool> condition, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var answer = await CheckAsync(tenantId, featureKey);
            if (condition(answer))
            {
                return (answer, clock.Elapsed);
            }

            if (clock.Elapsed > within)
            {
                return (answer, null);
            }

            await Task.Delay(2);
        }
    }

    public async Task<HttpResponseMessage> PostWebhookAsync(byte[] body, string? signatureHeader)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/billing/webhook") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        if (signatureHeader is not null)
        {
            request.Headers.Add("Stripe-Signature", signatureHeader);
        }

        request.Headers.Authorization = null;
        return await ControlPlane.SendAsync(request);
    }

    public Task<HttpResponseMessage> PostSignedWebhookAsync(byte[] body, int secretIndex = 0) =>
        PostWebhookAsync(body, WebhookSignature.CreateHeader(body, WebhookSecrets[secretIndex], DateTimeOffset.UtcNow));

    /// <summary>
    /// Webhooks are answered once stored and processed asynchronously: polls <c>GET /billing/webhooks/events/{id}</c> until the
    /// event of <paramref name="body"/> is processed (or failed) and returns its outcome; fails the test after 5 s.
    /// </summary>
    public async Task<string?> WaitProcessedAsync(byte[] body)
    {
        var eventId = (string?)JsonNode.Parse(body)?["id"] ?? throw new InvalidOperationException("the event has no id");
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var row = await ControlPlane.GetFromJsonAsync<JsonObject>($"/billing/webhooks/events/{eventId}");
            var status = (string?)row?["status"];
            if (status is "processed" or "failed")
            {
                return (string?)row?["outcome"];
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"event {eventId} still {status} after 5 s");
            await Task.Delay(5);
        }
    }

    /// <summary>A customer.subscription.* event for the tenant, from Stripe's fixture subscription.</summary>
    public static StripeEventBuilder SubscriptionEvent(string type, string tenantId, string subscriptionId, string status, DateTimeOffset created) =>
        StripeEventBuilder.Subscription(type)
            .WithEventId("evt_e2e_" + Guid.NewGuid().ToString("n")).WithCreated(created)
            .WithObjectId(subscriptionId).WithStatus(status).WithPriceIds(ProPrice)
            .WithItemCurrentPeriodEnd(0, created.AddMonths(1)).WithCancelAtPeriodEnd(false)
            .WithCanceledAt(status == "canceled" ? created : null)
            .WithMetadata("tenant_id", tenantId).WithMetadata("environment", "production");

    /// <summary>
    /// Sets the operator override the way the running control plane's default policy demands: the request answers 202 with an
    /// approval, the second operator approves it. Returns the executed action's answer (the entitlement, with snapshot_version).
    /// </summary>
    public async Task<JsonObject> OverrideWithApprovalAsync(string tenantId, string planId)
    {
        using var put = await ControlPlane.PutAsJsonAsync($"/tenants/{tenantId}/entitlements/production/override", new { plan_id = planId });
        var requested = (await put.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.True(put.StatusCode == System.Net.HttpStatusCode.Accepted, $"override -> {(int)put.StatusCode} {requested}");
        var id = (string)requested["approval"]!["id"]!;
        using var approve = await SecondOperator.PostAsync($"/approvals/{id}/approve", null);
        var decided = (await approve.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.True(approve.IsSuccessStatusCode, $"approve -> {(int)approve.StatusCode} {decided}");
        return decided["result"]!.AsObject();
    }

    public async Task<JsonObject> GetEntitlementAsync(string tenantId)
    {
        var json = await ControlPlane.GetFromJsonAsync<JsonObject>($"/tenants/{tenantId}/entitlements?environment=production");
        return json ?? throw new InvalidOperationException("empty entitlement body");
    }

    public void Dispose()
    {
        ControlPlane.Dispose();
        SecondOperator.Dispose();
        _channel.Dispose();
    }

    private static string Required(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"{name} is not set: run the end-to-end tests through ./test.sh, which starts the control plane and the sidecar.");
}
