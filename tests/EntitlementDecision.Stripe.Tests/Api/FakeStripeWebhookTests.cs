using Stripe;
using System.Collections.Concurrent;
using EntitlementDecision.FakeStripe;
using EntitlementDecision.Stripe.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EntitlementDecision.Stripe.Tests.Api;

/// <summary>The fake's scenario controls post webhooks our verifier accepts and our event reader understands.</summary>
public sealed class FakeStripeWebhookTests : IAsyncLifetime
{
    private const string Secret = "whsec_fake_stripe_tests_1f2e";

    private readonly ConcurrentQueue<(byte[] Body, string Signature)> _received = new();
    private WebApplication _receiver = null!;
    private FakeStripeServer _stripe = null!;
    private HttpClient _http = null!;

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _receiver = builder.Build();
        _receiver.MapPost("/billing/webhook", async (HttpContext context) =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer);
            _received.Enqueue((buffer.ToArray(), context.Request.Headers["Stripe-Signature"].ToString()));
            return Results.Ok();
        });
        await _receiver.StartAsync(TestContext.Current.CancellationToken);
        var hook = new Uri(_receiver.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/billing/webhook");
        _stripe = await FakeStripeServer.StartAsync(new FakeStripeOptions { WebhookUrl = hook, WebhookSecret = Secret, TimeProvider = new FakeTimeProvider(DateTimeOffset.UtcNow) }, cancellationToken: TestContext.Current.CancellationToken);
        _http = new HttpClient();
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _stripe.DisposeAsync();
        await _receiver.DisposeAsync();
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // Stripe.net itself on the fake, for reads our port does not offer.
    private StripeClient Net() => new("sk_test_webhooks", apiBase: _stripe.BaseUrl.GetLeftPart(UriPartial.Authority));

    /// <summary>The events received so far, verified and parsed; fails on any bad signature.</summary>
    private List<Event> Drain()
    {
        var verifier = new WebhookSignatureVerifier([Secret], WebhookSignatureVerifier.DefaultTolerance, TimeProvider.System);
        var events = new List<Event>();
        while (_received.TryDequeue(out var delivery))
        {
            Assert.Equal(SignatureCheckResult.Valid, verifier.Verify(delivery.Body, delivery.Signature));
            events.Add(StripeWebhookEvents.Parse(delivery.Body));
        }

        return events;
    }

    private static SubscriptionUpdate Read(Event e)
    {
        var result = StripeSubscriptionEvents.Read(e);
        Assert.True(result.Succeeded, result.Error);
        return result.Update;
    }

    [Fact]
    public async Task SubscriptionLife_PostsSignedEvents_ReadableByOurParser()
    {
        var client = new StripeNetBilling(_http, new StripeApiOptions { ApiKey = "sk_test_webhooks", BaseAddress = _stripe.BaseUrl });
        var session = await client.CreateCheckoutSessionAsync(StripeNetBillingTests.CheckoutRequest("t-life", trialDays: 14), "checkout:t-life", Ct);

        var completed = await _stripe.State.CompleteCheckoutSessionAsync(session.Id, Ct);
        var subId = (string)completed.Object["id"]!;
        var afterCheckout = Drain();
        Assert.Equal(["checkout.session.completed", "customer.subscription.created"], afterCheckout.Select(e => e.Type)); // a trial: no invoice
        Assert.All(completed.Deliveries, d => Assert.Equal(200, d.Status));
        var checkout = Read(afterCheckout[0]);
        Assert.Equal(("t-life", "staging", subId), (checkout.TenantId, checkout.Environment, checkout.SubscriptionId));
        var created = Read(afterCheckout[1]);
        Assert.Equal(("t-life", "trialing", StripeNetBillingTests.FixturePrice, "pro"), (created.TenantId, created.Status, created.PriceIds.Single(), created.PlanIdFromMetadata));

        await _stripe.State.TrialWillEndAsync(subId, Ct);
        await _stripe.State.EndTrialAsync(subId, Ct);
        await _stripe.State.FailPaymentAsync(subId, Ct);
        await _stripe.State.PayAsync(subId, Ct);
        await _stripe.State.SetStatusAsync(subId, "unpaid", Ct);
        await _stripe.State.CancelAtPeriodEndAsync(subId, Ct);
        await _stripe.State.DeleteSubscriptionAsync(subId, Ct);
        var later = Drain();

        Assert.Equal(
            [
                "customer.subscription.trial_will_end",
                "customer.subscription.updated", "invoice.paid",
                "invoice.payment_failed", "customer.subscription.updated",
                "invoice.paid", "customer.subscription.updated",
                "customer.subscription.updated",
                "customer.subscription.updated",
                "customer.subscription.deleted",
            ],
            later.Select(e => e.Type));
        var statuses = later.Where(e => e.Type.StartsWith("customer.subscription.", StringComparison.Ordinal) && e.Type != "customer.subscription.trial_will_end")
            .Select(e => Read(e).Status);
        Assert.Equal(["active", "past_due", "active", "unpaid", "unpaid", "canceled"], statuses);
        Assert.True(Read(later[^2]).CancelAtPeriodEnd);
        Assert.NotNull(Read(later[^1]).CanceledAt);
        var all = afterCheckout.Concat(later).ToList();
        Assert.True(all.Zip(all.Skip(1)).All(p => p.Second.Created >= p.First.Created), "created never decreases");
        Assert.True(afterCheckout[0].Created == afterCheckout[1].Created, "the events of one change share a second, as in Stripe"); // the clock stands still
        var listed = await Net().V1.Events.ListAsync(new EventListOptions { Limit = 100 }, cancellationToken: Ct);
        Assert.Equal(all.Select(e => e.Id).Reverse(), listed.Data.Select(e => e.Id));
    }

    [Fact]
    public async Task CompletingWithoutTrial_CreatesCustomerAndPaidInvoice()
    {
        var client = new StripeNetBilling(_http, new StripeApiOptions { ApiKey = "sk_test_webhooks", BaseAddress = _stripe.BaseUrl });
        var session = await client.CreateCheckoutSessionAsync(StripeNetBillingTests.CheckoutRequest("t-paid", trialDays: null) with { CustomerEmail = "pay@t.test" }, "checkout:t-paid", Ct);

        await _stripe.State.CompleteCheckoutSessionAsync(session.Id, Ct);
        var events = Drain();

        Assert.Equal(["checkout.session.completed", "customer.subscription.created", "invoice.paid"], events.Select(e => e.Type));
        var sub = (await client.GetSubscriptionAsync(Read(events[1]).SubscriptionId!, Ct))!;
        Assert.Equal("active", sub.Status);
        Assert.Equal("pay@t.test", (await Net().V1.Customers.GetAsync(sub.CustomerId, cancellationToken: Ct)).Email);
        var invoice = (await Net().V1.Invoices.ListAsync(new InvoiceListOptions { Subscription = sub.Id }, cancellationToken: Ct)).Data.Single();
        Assert.Equal(("paid", 2000L, sub.LatestInvoiceId), (invoice.Status, invoice.AmountPaid, invoice.Id));
        Assert.Equal(sub.Id, invoice.Parent.SubscriptionDetails.SubscriptionId);
        Assert.Equal(sub.Items.Data[0].CurrentPeriodEnd, invoice.PeriodEnd);
        await Assert.ThrowsAsync<FakeStripeError>(() => _stripe.State.CompleteCheckoutSessionAsync(session.Id, Ct)); // already complete
    }
}
