using EntitlementDecision.FakeStripe;

// The fake Stripe API (tools/EntitlementDecision.FakeStripe/README.md) as a process.
//   FAKE_STRIPE_URLS            where to listen (default http://127.0.0.1:12111; ';'-separated for several)
//   FAKE_STRIPE_WEBHOOK_URL     where to post signed events (e.g. http://127.0.0.1:5080/billing/webhook); optional
//   FAKE_STRIPE_WEBHOOK_SECRET  the signing secret (whsec_...); required with FAKE_STRIPE_WEBHOOK_URL
//   FAKE_STRIPE_API_KEY         when set, the only accepted bearer key; optional
var urls = Environment.GetEnvironmentVariable("FAKE_STRIPE_URLS") is { Length: > 0 } u ? u : "http://127.0.0.1:12111";
var webhookUrl = Environment.GetEnvironmentVariable("FAKE_STRIPE_WEBHOOK_URL");
var webhookSecret = Environment.GetEnvironmentVariable("FAKE_STRIPE_WEBHOOK_SECRET");
var apiKey = Environment.GetEnvironmentVariable("FAKE_STRIPE_API_KEY");

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
});
var app = FakeStripeServer.Build(state, urls);
await app.RunAsync();
return 0;
