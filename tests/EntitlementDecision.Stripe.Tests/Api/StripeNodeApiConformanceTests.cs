using System.Text.Json;
using System.Text.Json.Nodes;
using EntitlementDecision.FakeStripe;
using EntitlementDecision.Stripe.Api;

namespace EntitlementDecision.Stripe.Tests.Api;

/// <summary>
/// Conformance with the real peer, Stripe's Node SDK (tests/stripe-interop, stripe 23.1.0), pointed at the fake Stripe API:
/// the SDK accepts the fake's objects (create, retrieve, auto-paginated list, update), and for the same parameters the
/// form body it sends equals the one Stripe.net sends (both decoded and recorded by the fake).
/// </summary>
public sealed class StripeNodeApiConformanceTests : IAsyncLifetime
{
    private const string Key = "sk_test_node_conformance";
    private FakeStripeServer _stripe = null!;
    private HttpClient _http = null!;

    public async ValueTask InitializeAsync()
    {
        _stripe = await FakeStripeServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        _http = new HttpClient();
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _stripe.DisposeAsync();
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<JsonNode> NodeAsync(string command, object args)
    {
        var run = await StripeNodeInteropTests.RunNodeAsync("api.mjs", _stripe.BaseUrl.ToString().TrimEnd('/'), Key, command, JsonSerializer.Serialize(args));
        Assert.True(run.ExitCode == 0, $"stripe-node {command} failed ({run.ExitCode}): {run.StdErr}");
        return JsonNode.Parse(run.StdOut)!;
    }

    [Fact]
    public async Task NodeSdk_AcceptsTheFakesObjects_AndSendsTheSameFormsAsOurClient()
    {
        var client = new StripeNetBilling(_http, new StripeApiOptions { ApiKey = Key, BaseAddress = _stripe.BaseUrl });
        var customer = await client.CreateCustomerAsync(new CreateCustomerRequest(Email: "node@t.test"), "customer:node", Ct);
        var request = StripeNetBillingTests.CheckoutRequest("t-node", customer.Id, trialDays: 14);

        // Checkout session: ours, then the SDK's with the same parameters.
        var ours = await client.CreateCheckoutSessionAsync(request, "checkout:t-node", Ct);
        var metadata = new Dictionary<string, string> { ["tenant_id"] = "t-node", ["environment"] = "staging", ["plan_id"] = "pro" };
        var nodeSession = await NodeAsync("checkout", new
        {
            idempotencyKey = "node-checkout-1",
            @params = new Dictionary<string, object>
            {
                ["mode"] = "subscription",
                ["line_items"] = new[] { new Dictionary<string, object> { ["price"] = request.PriceId, ["quantity"] = 1 } },
                ["customer"] = customer.Id,
                ["client_reference_id"] = "t-node",
                ["metadata"] = metadata,
                ["subscription_data"] = new Dictionary<string, object> { ["metadata"] = metadata, ["trial_period_days"] = 14 },
                ["success_url"] = request.SuccessUrl,
                ["cancel_url"] = request.CancelUrl,
            },
        });
        Assert.Equal("checkout.session", (string?)nodeSession["object"]);
        Assert.Equal(("open", "t-node"), ((string?)nodeSession["status"], (string?)nodeSession["client_reference_id"]));
        var sessions = _stripe.State.Requests.Where(r => r.Path == "/v1/checkout/sessions").ToList();
        Assert.Equal(2, sessions.Count);
        Assert.Equal(Sorted(sessions[1].Form), Sorted(sessions[0].Form));
        Assert.Equal("node-checkout-1", sessions[1].IdempotencyKey);
        Assert.Equal(StripeNetBilling.ApiVersion, sessions[1].StripeVersion); // our pinned version is the SDK's

        // Two subscriptions for the customer, then the SDK retrieves one and auto-paginates the list.
        var first = await _stripe.State.CompleteCheckoutSessionAsync(ours.Id, Ct);
        var second = await _stripe.State.CompleteCheckoutSessionAsync((string)nodeSession["id"]!, Ct);
        var subId = (string)first.Object["id"]!;
        var read = await NodeAsync("read", new { subscription = subId, customer = customer.Id });
        Assert.Equal(subId, (string?)read["retrieved"]!["id"]);
        Assert.Equal("trialing", (string?)read["retrieved"]!["status"]);
        Assert.Equal([(string)second.Object["id"]!, subId], read["listed"]!.AsArray().Select(n => (string)n!));

        // A plan change: ours on one subscription, the SDK's with the same parameters on the other.
        var sub = (await client.GetSubscriptionAsync(subId, Ct))!;
        var other = (await client.GetSubscriptionAsync((string)second.Object["id"]!, Ct))!;
        await client.UpdateSubscriptionAsync(sub.Id, new UpdateSubscriptionRequest(sub.Items.Data[0].Id, StripeNetBillingTests.BusinessPrice, "always_invoice"), "upgrade:t-node", Ct);
        var nodeUpdated = await NodeAsync("update", new
        {
            subscription = other.Id,
            idempotencyKey = "node-upgrade-1",
            @params = new Dictionary<string, object>
            {
                ["items"] = new[] { new Dictionary<string, object> { ["id"] = other.Items.Data[0].Id, ["price"] = StripeNetBillingTests.BusinessPrice } },
                ["proration_behavior"] = "always_invoice",
            },
        });
        Assert.Equal(StripeNetBillingTests.BusinessPrice, (string?)nodeUpdated["items"]!["data"]![0]!["price"]!["id"]);
        var ourUpdate = _stripe.State.Requests.Single(r => r.Method == "POST" && r.Path == "/v1/subscriptions/" + sub.Id).Form;
        var nodeUpdate = _stripe.State.Requests.Single(r => r.Method == "POST" && r.Path == "/v1/subscriptions/" + other.Id).Form;
        Assert.Equal(Sorted(nodeUpdate).Select(p => p.Key), Sorted(ourUpdate).Select(p => p.Key));
        Assert.Equal(Sorted(nodeUpdate).Where(p => p.Key != "items[0][id]"), Sorted(ourUpdate).Where(p => p.Key != "items[0][id]"));
    }

    private static List<KeyValuePair<string, string>> Sorted(IReadOnlyDictionary<string, string> form) =>
        form.OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
}
