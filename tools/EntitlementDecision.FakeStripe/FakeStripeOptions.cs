namespace EntitlementDecision.FakeStripe;

/// <summary>A price the fake Stripe API knows from the start (a recurring, per-unit price).</summary>
/// <param name="Id"><c>price_...</c>.</param>
/// <param name="UnitAmount">In the currency's smallest unit (cents).</param>
/// <param name="Currency">Lower-case ISO code, e.g. <c>usd</c>.</param>
/// <param name="Interval"><c>day</c>, <c>week</c>, <c>month</c> or <c>year</c>.</param>
/// <param name="Active">False for an archived price.</param>
/// <param name="Product">The product id (<c>prod_...</c>).</param>
public sealed record FakePrice(string Id, long UnitAmount, string Currency, string Interval, bool Active = true, string Product = "prod_QXg1hqf4jFNsqG");

/// <summary>Settings of the fake Stripe API.</summary>
public sealed class FakeStripeOptions
{
    /// <summary>The default seed: Stripe's fixture price (usd 2000/month) and the business plan's dev price (usd 9900/month).</summary>
    public static IReadOnlyList<FakePrice> DefaultPrices { get; } =
    [
        new("price_1PgafmB7WZ01zgkW6dKueIc5", 2000, "usd", "month"),
        new("price_1PgbusinessMonthlyDev01", 9900, "usd", "month", Product: "prod_BusinessDev0001"),
    ];

    /// <summary>Prices present from the start (default <see cref="DefaultPrices"/>).</summary>
    public IReadOnlyList<FakePrice> Prices { get; set; } = DefaultPrices;

    /// <summary>When set, only <c>Authorization: Bearer {ApiKey}</c> is accepted (else 401 like Stripe); when null any non-empty bearer key is.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Where scenario controls and API updates post their events (signed); null: events are only listed by <c>GET /v1/events</c>.</summary>
    public Uri? WebhookUrl { get; set; }

    /// <summary>The webhook endpoint's signing secret (<c>whsec_...</c>); required with <see cref="WebhookUrl"/>.</summary>
    public string? WebhookSecret { get; set; }

    /// <summary>
    /// Stripe's rate limits on <c>/v1</c> (default Stripe's: 25 operations/s per test-mode key, 100 per live-mode key, 25
    /// requests/s per endpoint); beyond them 429 <c>rate_limit</c>. Null: no limits. See <see cref="FakeStripeRateLimits"/>.
    /// </summary>
    public FakeStripeRateLimits? RateLimits { get; set; } = new();

    /// <summary>The clock for <c>created</c>, periods, trials, webhook signatures and rate-limit seconds (default the system clock).</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// False (default), as Stripe: an event's <c>created</c> is the second it happened, so the events of one change (and of
    /// quick successive changes) share a second and only their list order tells them apart. True: every event gets a later
    /// second than the one before, for tests of the payload-only path, where same-second events cannot be ordered.
    /// </summary>
    public bool DistinctEventSeconds { get; set; }
}
