using EntitlementDecision.FakeStripe;

// The fake Stripe API (tools/EntitlementDecision.FakeStripe/README.md) as a process.
//   FAKE_STRIPE_URLS            where to listen (default http://127.0.0.1:12111; ';'-separated for several)
//   FAKE_STRIPE_WEBHOOK_URL     where to post signed events (e.g. http://127.0.0.1:5080/billing/webhook); optional
//   FAKE_STRIPE_WEBHOOK_SECRET  the signing secret (whsec_...); required with FAKE_STRIPE_WEBHOOK_URL
//   FAKE_STRIPE_API_KEY         when set, the only accepted bearer key; optional
//   FAKE_STRIPE_RATE_LIMITS     stripe (default: Stripe's limits, 25/s per test key, 100/s per live key, 25/s per endpoint) or off
var urls = Environment.GetEnvironmentVariable("FAKE_STRIPE_URLS") is { Length: > 0 } u ? u : "http://127.0.0.1:12111";
var webhookUrl = Environment.GetEnvironmentVariable("FAKE_STRIPE_WEBHOOK_URL");
var webhookSecret = Environment.GetEnvironmentVariable("FAKE_STRIPE_WEBHOOK_SECRET");
var apiKey = Environment.GetEnvironmentVariable("FAKE_STRIPE_API_KEY");
var rateLimits = Environment.GetEnvironmentVariable("FAKE_STRIPE_RATE_LIMITS") is { Length: > 0 } r ? r : "stripe";
if (rateLimits is not ("stripe" or "off"))
{
    Console.Error.WriteLine("FAKE_STRIPE_RATE_LIMITS must be stripe (Stripe's rate limits, the default) or off.");
    return 2;
}

Uri? webhook = null;
if (!string.IsNullOrWhiteSpace(webhookUrl))
{
    if (!Uri.TryCreate(webhookUrl, UriKind.Absolute, out webhook))
    {
        Console.Error.WriteLine("FAKE_STRIPE_WEBHOOK_URL must be an absolute URL.");
        return 2;
    }

    if (string.IsNullOrWhiteSpace(webhookSecret))
    {
        Console.Error.WriteLine("FAKE_STRIPE_WEBHOOK_SECRET is required with FAKE_STRIPE_WEBHOOK_URL.");
        return 2;
    }
}

using var state = new FakeStripeState(new FakeStripeOptions
{
    WebhookUrl = webhook,
    WebhookSecret = webhook is null ? null : webhookSecret,
    ApiKey = string.IsNullOrWhiteSpace(apiKey) ? null : apiKey,
    RateLimits = rateLimits == "stripe" ? new FakeStripeRateLimits() : null,
});
var app = FakeStripeServer.Build(state, urls);
await app.RunAsync();
return 0;
