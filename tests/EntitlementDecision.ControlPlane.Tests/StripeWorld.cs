using System.Text;
using System.Text.Json.Nodes;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.FakeStripe;
using EntitlementDecision.Stripe;
using EntitlementDecision.Stripe.Api;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>
/// A control plane that re-reads subscriptions from the fake Stripe API (in-process on a loopback port, the only mock: the
/// process edge) plus helpers to make Stripe do things and deliver the events it emitted, signed, in any order.
/// The fake posts no webhooks itself: tests take the emitted events (by id) and deliver them to the host.
/// </summary>
public class StripeWorld : IAsyncLifetime
{
    private string _database = "";
    private ControlPlaneFactory? _factory;
    private HttpClient? _stripeHttp;

    /// <summary>Extra host settings (applied over the defaults), for classes that derive a world.</summary>
    public Dictionary<string, string?> Overrides { get; } = new();

    /// <summary>The control plane's clock, when a derived world sets one (default the system clock).</summary>
    public TimeProvider? HostTime { get; set; }

    /// <summary>
    /// The fake's settings; by default Stripe-like, so events of one change share a second, but without Stripe's rate limits:
    /// the test and the host share one key with no client retries, and the standing clocks of some worlds never leave one second.
    /// </summary>
    public FakeStripeOptions StripeOptions { get; } = new() { RateLimits = null };

    public FakeStripeServer Stripe { get; private set; } = null!;

    public ControlPlaneFixture Host { get; private set; } = null!;

    /// <summary>A client of the fake (one attempt per call, so tests do not wait for client retries).</summary>
    public StripeNetBilling Api { get; private set; } = null!;

    /// <summary>Stripe.net itself on the fake, for what our port does not offer (the events list).</summary>
    public global::Stripe.StripeClient StripeNet { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Stripe = await FakeStripeServer.StartAsync(StripeOptions, cancellationToken: TestContext.Current.CancellationToken);
        _stripeHttp = new HttpClient();
        Api = new StripeNetBilling(_stripeHttp, ApiOptions());
        StripeNet = new global::Stripe.StripeClient("sk_test_world", apiBase: Stripe.BaseUrl.GetLeftPart(UriPartial.Authority));
        _database = await TestServices.CreateDatabaseAsync();
        var settings = ControlPlaneFactory.DefaultSettings(_database);
        settings["STRIPE_API_BASE"] = Stripe.BaseUrl.ToString();
        foreach (var (k, v) in Overrides)
        {
            settings[k] = v;
        }

        _factory = new ControlPlaneFactory(settings, services =>
        {
            services.AddHttpClient<IStripeBilling, StripeNetBilling>((http, _) => new StripeNetBilling(http, ApiOptions()));
            if (HostTime is not null)
            {
                services.AddSingleton(HostTime);
            }
        });
        Host = new ControlPlaneFixture(_factory);
        await Host.ConnectRedisAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeHelpersAsync();
        if (_factory is not null)
        {
            await _factory.DisposeAsync();
        }

        _stripeHttp?.Dispose();
        await Stripe.DisposeAsync();
        if (_database.Length > 0)
        {
            await TestServices.DropDatabaseAsync(_database);
        }
    }

    private StripeApiOptions ApiOptions() => new() { ApiKey = "sk_test_world", BaseAddress = Stripe.BaseUrl, MaxNetworkRetries = 0 };

    /// <summary>The fake's events of <paramref name="type"/>, newest first, as Stripe.net reads them.</summary>
    public async Task<List<global::Stripe.Event>> EventsAsync(string type, CancellationToken ct = default) =>
        (await StripeNet.V1.Events.ListAsync(new global::Stripe.EventListOptions { Type = type, Limit = 100 }, cancellationToken: ct)).Data;

    /// <summary>Checkout on the fake for <paramref name="tenantId"/> at <paramref name="priceId"/>, completed; returns the subscription id and the emitted event ids.</summary>
    public async Task<(string SubscriptionId, IReadOnlyList<string> EventIds)> SubscribeAsync(string tenantId, string priceId = TestServices.ProPrice, int? trialDays = null)
    {
        var session = await Api.CreateCheckoutSessionAsync(
            new CreateCheckoutSessionRequest(tenantId, "production", priceId, "https://example.test/ok", "https://example.test/cancel", TrialPeriodDays: trialDays),
            "checkout-" + Guid.NewGuid().ToString("N"), TestContext.Current.CancellationToken);
        var result = await Stripe.State.CompleteCheckoutSessionAsync(session.Id, TestContext.Current.CancellationToken);
        return ((string)result.Object["id"]!, result.EventIds);
    }

    /// <summary>The event body Stripe emitted (exactly as stored by the fake).</summary>
    public byte[] EventBody(string eventId) =>
        Encoding.UTF8.GetBytes((Stripe.State.Find(eventId) ?? throw new InvalidOperationException($"the fake has no event {eventId}")).ToJsonString());

    /// <summary>Delivers each event (signed) and waits until each is processed; returns the outcomes in order.</summary>
    public async Task<List<string?>> DeliverAsync(IEnumerable<string> eventIds)
    {
        var outcomes = new List<string?>();
        foreach (var id in eventIds)
        {
            outcomes.Add(await Host.DeliverAsync(EventBody(id)));
        }

        return outcomes;
    }

    public Task<List<string?>> DeliverAsync(ScenarioResult result) => DeliverAsync(result.EventIds);

    /// <summary>Stripe's current subscription object.</summary>
    public JsonObject Subscription(string subscriptionId) => Stripe.State.Find(subscriptionId) ?? throw new InvalidOperationException($"no subscription {subscriptionId}");

    internal Task<Entitlement> RowAsync(string tenantId) => Host.EntitlementAsync(tenantId);

    internal Task<List<AuditEntry>> AuditAsync(string tenantId) =>
        Host.DbAsync(db => db.AuditEntries.AsNoTracking().Where(a => a.TenantId == tenantId).OrderBy(a => a.Id).ToListAsync());
}

/// <summary>The same world with re-reading off: webhook payloads are applied with the order check only (the fallback path).</summary>
public sealed class PayloadOnlyWorld : StripeWorld
{
    // Same-second events can be ordered only by re-reading Stripe: the payload-only path is checked on distinct seconds.
    public PayloadOnlyWorld()
    {
        Overrides["ED_WEBHOOK_REREAD"] = "off";
        StripeOptions.DistinctEventSeconds = true;
    }
}
