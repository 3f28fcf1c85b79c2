using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace EntitlementDecision.LoadTests;

/// <summary>A request the fake Stripe API recorded (<c>GET /_fake/requests</c>): its place in arrival order, method, path and answer (0 = aborted).</summary>
internal readonly record struct FakeRequest(long Sequence, string Method, string Path, int Status);

/// <summary>A subscription the fake holds, as a Stripe event must name it: its id, its customer and its first item (for price changes).</summary>
internal sealed record FakeSubscription(string Id, string CustomerId, string ItemId);

/// <summary>
/// The driver's client of the fake Stripe API (tools/EntitlementDecision.FakeStripe/README.md): Stripe's <c>/v1</c> routes with the
/// API key, and the <c>/_fake</c> controls. Its own <c>/v1</c> calls are paced to <see cref="RequestsPerSecond"/> and a 429 is
/// retried, so that setting up the load never spends more of Stripe's test-mode budget (25 requests/s) than a slow client would.
/// </summary>
internal sealed class FakeStripeClient
{
    /// <summary>Pace of this client's <c>/v1</c> calls, below Stripe's 25 requests/s in test mode (docs.stripe.com/rate-limits).</summary>
    public const double RequestsPerSecond = 20;

    /// <summary>Path prefix of the marker requests (<see cref="MarkAsync"/>); no Stripe route, so the fake answers 404 and records it.</summary>
    public const string MarkerPrefix = "/v1/_loadtest_marker/";

    private const int MaxAttempts = 8;
    private static readonly long SlotTicks = (long)(Stopwatch.Frequency / RequestsPerSecond);
    private readonly HttpClient _http;
    private readonly Lock _pace = new();
    private long _nextSlot;
    private long _markers;

    public FakeStripeClient(Uri baseUrl, string apiKey)
    {
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(60) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
    }

    /// <summary>Stops the fake's own webhook deliveries (<c>POST /_fake/webhook</c> with url null): the driver posts the events it measures itself.</summary>
    public async Task StopWebhooksAsync()
    {
        using var response = await _http.PostAsJsonAsync("/_fake/webhook", new { url = (string?)null, secret = (string?)null });
        await EnsureAsync(response, "POST /_fake/webhook");
    }

    /// <summary>
    /// A subscription of <paramref name="tenant"/> on <paramref name="priceId"/>, made as a customer would: a Checkout Session
    /// (<c>POST /v1/checkout/sessions</c>, metadata tenant_id/environment/plan_id on the subscription, as the control plane's checkout
    /// sets them) completed through <c>POST /_fake/checkout/sessions/{id}/complete</c> (a new customer, status active).
    /// </summary>
    public async Task<FakeSubscription> CreateSubscriptionAsync(string tenant, string environment, string planId, string priceId)
    {
        using var session = await PostFormAsync("/v1/checkout/sessions", new Dictionary<string, string>
        {
            ["mode"] = "subscription",
            ["line_items[0][price]"] = priceId,
            ["line_items[0][quantity]"] = "1",
            ["customer_email"] = $"{tenant}@loadtest.invalid",
            ["client_reference_id"] = tenant,
            ["metadata[tenant_id]"] = tenant,
            ["metadata[environment]"] = environment,
            ["metadata[plan_id]"] = planId,
            ["subscription_data[metadata][tenant_id]"] = tenant,
            ["subscription_data[metadata][environment]"] = environment,
            ["subscription_data[metadata][plan_id]"] = planId,
            ["success_url"] = "https://loadtest.invalid/success",
        });
        var sessionId = session.RootElement.GetProperty("id").GetString()!;
        using var response = await _http.PostAsync($"/_fake/checkout/sessions/{sessionId}/complete", null);
        await EnsureAsync(response, $"POST /_fake/checkout/sessions/{sessionId}/complete");
        using var completed = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var sub = completed.RootElement.GetProperty("object");
        return new FakeSubscription(
            sub.GetProperty("id").GetString()!,
            sub.GetProperty("customer").GetString()!,
            sub.GetProperty("items").GetProperty("data")[0].GetProperty("id").GetString()!);
    }

    /// <summary>Moves the subscription's only item to <paramref name="priceId"/> (<c>POST /v1/subscriptions/{id}</c>, no prorations).</summary>
    public async Task SetPriceAsync(FakeSubscription subscription, string priceId)
    {
        using var _ = await PostFormAsync($"/v1/subscriptions/{subscription.Id}", new Dictionary<string, string>
        {
            ["items[0][id]"] = subscription.ItemId,
            ["items[0][price]"] = priceId,
            ["proration_behavior"] = "none",
        });
    }

    /// <summary>
    /// Sends a marker request (<see cref="MarkerPrefix"/> + n, answered 404) and returns n: its place in the fake's request log
    /// (<see cref="RequestsAsync"/>) splits the log at this moment, since the recorded requests carry no timestamps. Not paced.
    /// </summary>
    public async Task<long> MarkAsync()
    {
        var n = Interlocked.Increment(ref _markers);
        using var response = await _http.GetAsync(MarkerPrefix + n.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return n;
    }

    /// <summary>Every request the fake recorded so far, in arrival order (<c>GET /_fake/requests</c>: sequence, method, path, status).</summary>
    public async Task<List<FakeRequest>> RequestsAsync()
    {
        await using var stream = await _http.GetStreamAsync("/_fake/requests");
        using var json = await JsonDocument.ParseAsync(stream);
        return [.. json.RootElement.EnumerateArray().Select(r => new FakeRequest(
            r.GetProperty("sequence").GetInt64(), r.GetProperty("method").GetString()!, r.GetProperty("path").GetString()!, r.GetProperty("status").GetInt32()))];
    }

    /// <summary>A paced, form-encoded <c>/v1</c> POST; a 429 waits (Stripe-style backoff, 0.5 s doubling to 4 s) and tries again.</summary>
    private async Task<JsonDocument> PostFormAsync(string path, Dictionary<string, string> form)
    {
        for (var attempt = 1; ; attempt++)
        {
            await WaitForSlotAsync();
            using var response = await _http.PostAsync(path, new FormUrlEncodedContent(form));
            if (response.StatusCode == HttpStatusCode.TooManyRequests && attempt < MaxAttempts)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(4000, 500 << (attempt - 1))));
                continue;
            }

            await EnsureAsync(response, "POST " + path);
            return JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        }
    }

    // One slot per 1 / RequestsPerSecond s, handed out in order; a caller waits for its slot.
    private async Task WaitForSlotAsync()
    {
        long wait;
        lock (_pace)
        {
            var now = Stopwatch.GetTimestamp();
            var slot = Math.Max(now, _nextSlot);
            _nextSlot = slot + SlotTicks;
            wait = slot - now;
        }

        if (wait > 0)
        {
            await Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency));
        }
    }

    private static async Task EnsureAsync(HttpResponseMessage response, string what)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"fake Stripe: {what} -> {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }
}
