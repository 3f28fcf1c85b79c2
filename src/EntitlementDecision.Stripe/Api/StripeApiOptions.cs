namespace EntitlementDecision.Stripe.Api;

/// <summary>Settings of <see cref="StripeNetBilling"/>. The API key is a secret: Stripe.net sends it only in the Authorization header; we never log it.</summary>
public sealed class StripeApiOptions
{
    /// <summary>Stripe's production API.</summary>
    public static readonly Uri DefaultBaseAddress = new("https://api.stripe.com/");

    /// <summary>Secret or restricted key (<c>sk_...</c>/<c>rk_...</c>). Required.</summary>
    public string ApiKey { get; set; } = "";

    /// <summary>Where the API lives (<c>STRIPE_API_BASE</c>); the fake Stripe API in tests and the demo.</summary>
    public Uri BaseAddress { get; set; } = DefaultBaseAddress;

    /// <summary>Stripe.net's retries after the first attempt (default 3): on connection errors, 409, 429 and 5xx, honouring <c>Stripe-Should-Retry</c>, with the same idempotency key and its backoff of 0.5 s to 5 s.</summary>
    public int MaxNetworkRetries { get; set; } = 3;

    /// <summary>Time limit of one attempt, for the HttpClient handed to <see cref="StripeNetBilling"/>; a timed-out call surfaces as <c>api_connection_error</c>.</summary>
    public static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(30);
}
