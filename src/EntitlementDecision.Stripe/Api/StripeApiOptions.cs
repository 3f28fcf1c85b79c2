namespace EntitlementDecision.Stripe.Api;

/// <summary>Settings of <see cref="StripeApiClient"/>. The API key is a secret: it is sent only in the Authorization header and never logged.</summary>
public sealed class StripeApiOptions
{
    /// <summary>Stripe's production API.</summary>
    public static readonly Uri DefaultBaseAddress = new("https://api.stripe.com/");

    /// <summary>Secret or restricted key (<c>sk_...</c>/<c>rk_...</c>), sent as <c>Authorization: Bearer</c>. Required.</summary>
    public string ApiKey { get; set; } = "";

    /// <summary>Where the API lives (<c>STRIPE_API_BASE</c>); the fake Stripe API in tests and the demo. Paths <c>/v1/...</c> are appended.</summary>
    public Uri BaseAddress { get; set; } = DefaultBaseAddress;

    /// <summary>Attempts per call including the first (default 4; 1 disables retries).</summary>
    public int MaxAttempts { get; set; } = 4;

    /// <summary>Base of the exponential backoff with jitter between attempts (default 500 ms; Polly caps it at <see cref="MaxRetryDelay"/>).</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest wait between attempts (default 8 s).</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(8);

    /// <summary>Time limit of one attempt (default 30 s); a timed-out attempt counts as a network error and is retried.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
