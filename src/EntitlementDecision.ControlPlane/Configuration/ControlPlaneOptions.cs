using System.Text;

namespace EntitlementDecision.ControlPlane.Configuration;

/// <summary>
/// The control plane's settings, read from environment variables (any IConfiguration source with the same keys works):
/// STRIPE_WEBHOOK_SECRET (required; comma-separated for rotation), STRIPE_API_KEY (required, never logged),
/// ED_TOKEN_SIGNING_KEY (required unless ED_AUTH_AUTHORITY is set; at least 32 UTF-8 bytes), ED_AUTH_AUTHORITY and
/// ED_AUTH_AUDIENCE (an external OIDC issuer and the audience its tokens carry), ED_POSTGRES (required, Npgsql connection string),
/// ED_REDIS (required, StackExchange.Redis configuration), ED_CONTROLPLANE_URL (default http://127.0.0.1:5080),
/// ED_CATALOG_PATH (default: catalog/plans.json under the content root or the nearest folder above it),
/// STRIPE_API_BASE (default https://api.stripe.com; the fake Stripe API in tests and the demo), ED_REGION (default <c>local</c>: the
/// region this control plane runs in, where tenants created without one are homed).
/// Validated at start-up (<see cref="EnvironmentOptions"/>); failures name the variable, never its value.
/// </summary>
internal sealed class ControlPlaneOptions : EnvironmentOptions
{
    public const string WebhookSecretVariable = "STRIPE_WEBHOOK_SECRET";
    public const string ApiKeyVariable = "STRIPE_API_KEY";
    public const string SigningKeyVariable = "ED_TOKEN_SIGNING_KEY";
    public const string PostgresVariable = "ED_POSTGRES";
    public const string RedisVariable = "ED_REDIS";
    public const string UrlVariable = "ED_CONTROLPLANE_URL";
    public const string CatalogPathVariable = "ED_CATALOG_PATH";
    public const string StripeApiBaseVariable = "STRIPE_API_BASE";
    public const string StripeRequestsVariable = "ED_STRIPE_REQUESTS_PER_SECOND";

    /// <summary>Stripe's default limit: 25 requests/s per endpoint, and 25 operations/s per test-mode account (docs.stripe.com/rate-limits).</summary>
    public const int DefaultStripeRequestsPerSecond = 25;
    public const string AuthAuthorityVariable = "ED_AUTH_AUTHORITY";
    public const string AuthAudienceVariable = "ED_AUTH_AUDIENCE";
    public const string RedisHealVariable = "ED_REDIS_HEAL";
    public const string RegionVariable = "ED_REGION";
    public const string DefaultRegion = "local";
    public const string DefaultUrl = "http://127.0.0.1:5080";
    public const string DefaultStripeApiBase = "https://api.stripe.com";

    /// <summary>Webhook endpoint secrets (whsec_...), newest first or in any order: a signature by any of them is accepted.</summary>
    public IReadOnlyList<string> WebhookSecrets { get; set; } = [];

    public string? StripeApiKey { get; set; }

    public string? TokenSigningKey { get; set; }

    /// <summary>An external OIDC issuer (ED_AUTH_AUTHORITY, e.g. https://login.example.com/realms/ops): when set, bearer tokens are validated against its keys, not the dev key.</summary>
    public string? AuthAuthority { get; set; }

    /// <summary>The audience tokens of <see cref="AuthAuthority"/> must carry (ED_AUTH_AUDIENCE); required with it.</summary>
    public string? AuthAudience { get; set; }

    public string? Postgres { get; set; }

    public string? Redis { get; set; }

    public string Url { get; set; } = DefaultUrl;

    /// <summary>ED_REGION: the home region of tenants created without one (a region id, ^[a-z0-9][a-z0-9-]{1,31}$).</summary>
    public string Region { get; set; } = DefaultRegion;

    /// <summary>ED_REDIS_HEAL (<c>on</c> default | <c>off</c>): refill Redis from PostgreSQL when it lost its data (<c>Healing/RedisHealer</c>).</summary>
    public bool RedisHeal { get; set; } = true;

    /// <summary>Base URL of Stripe's API (STRIPE_API_BASE); <c>/v1/...</c> is appended.</summary>
    public string StripeApiBase { get; set; } = DefaultStripeApiBase;

    /// <summary>ED_STRIPE_REQUESTS_PER_SECOND (1..1000, default 25): the process's Stripe request budget (<c>StripeRequestBudget</c>).</summary>
    public int StripeRequestsPerSecond { get; set; } = DefaultStripeRequestsPerSecond;

    /// <summary>Absolute path of the catalog file (ED_CATALOG_PATH, resolved by <see cref="ResolveCatalogPath"/> at registration), or null when none was found.</summary>
    public string? CatalogPath { get; set; }

    protected internal override void Read(EnvironmentReader env)
    {
        WebhookSecrets = env.List(WebhookSecretVariable);
        StripeApiKey = env.Text(ApiKeyVariable);
        TokenSigningKey = env.Text(SigningKeyVariable);
        AuthAuthority = env.Text(AuthAuthorityVariable);
        AuthAudience = env.Text(AuthAudienceVariable);
        RedisHeal = env.Switch(RedisHealVariable, RedisHeal);
        Postgres = env.Text(PostgresVariable);
        Redis = env.Text(RedisVariable);
        Url = env.Text(UrlVariable) ?? Url;
        Region = env.Text(RegionVariable) ?? Region;
        StripeApiBase = env.Text(StripeApiBaseVariable) ?? StripeApiBase;
        StripeRequestsPerSecond = env.Int(StripeRequestsVariable, StripeRequestsPerSecond, StripeRequestsError);
        CatalogPath = env.Text(CatalogPathVariable);
    }

    /// <summary>An explicit path (relative to the content root when relative), else catalog/plans.json in the content root or a folder above it.</summary>
    public static string? ResolveCatalogPath(string? configured, string contentRoot)
    {
        if (configured is not null)
        {
            return Path.GetFullPath(configured, contentRoot);
        }

        for (var dir = new DirectoryInfo(contentRoot); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "catalog", "plans.json");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>True for an http:// URL on a loopback host: the only place an issuer's metadata may come without TLS.</summary>
    public static bool IsLoopbackHttp(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttp && uri.IsLoopback;

    protected internal override IEnumerable<string> Check()
    {
        if (WebhookSecrets.Count == 0)
        {
            yield return $"{WebhookSecretVariable} is required (the Stripe webhook endpoint secret; comma-separated for rotation).";
        }

        if (StripeApiKey is null)
        {
            yield return $"{ApiKeyVariable} is required.";
        }

        if (AuthAuthority is not null)
        {
            if (!Uri.TryCreate(AuthAuthority, UriKind.Absolute, out var authority)
                || !(authority.Scheme == Uri.UriSchemeHttps || IsLoopbackHttp(AuthAuthority)))
            {
                yield return $"{AuthAuthorityVariable} must be an https URL (http only on a loopback host).";
            }

            if (AuthAudience is null)
            {
                yield return $"{AuthAudienceVariable} is required with {AuthAuthorityVariable}.";
            }
        }

        // With an external issuer the dev key is optional (mint-token then refuses to run).
        if (TokenSigningKey is null && AuthAuthority is null)
        {
            yield return $"{SigningKeyVariable} is required (HMAC key for bearer tokens, at least 32 bytes).";
        }
        else if (TokenSigningKey is not null && Encoding.UTF8.GetByteCount(TokenSigningKey) < 32)
        {
            yield return $"{SigningKeyVariable} is too short: at least 32 bytes are required.";
        }

        if (Postgres is null)
        {
            yield return $"{PostgresVariable} is required (Npgsql connection string).";
        }
        else
        {
            if (!Parses(() => new Npgsql.NpgsqlConnectionStringBuilder(Postgres)))
            {
                yield return $"{PostgresVariable} is not a valid Npgsql connection string.";
            }
        }

        if (Redis is null)
        {
            yield return $"{RedisVariable} is required (e.g. 127.0.0.1:6379).";
        }
        else
        {
            if (!Parses(() => StackExchange.Redis.ConfigurationOptions.Parse(Redis)))
            {
                yield return $"{RedisVariable} is not a valid StackExchange.Redis configuration.";
            }
        }

        if (!IsHttpUrl(Url))
        {
            yield return $"{UrlVariable} must be an absolute http(s) URL.";
        }

        if (!Engine.Identifiers.IsEnvironment(Region))
        {
            yield return $"{RegionVariable} must be a region id (lower-case letters, digits and '-', at most 32).";
        }

        if (!IsHttpUrl(StripeApiBase))
        {
            yield return $"{StripeApiBaseVariable} must be an absolute http(s) URL.";
        }

        if (StripeRequestsPerSecond is not (>= 1 and <= 1000))
        {
            yield return StripeRequestsError;
        }

        if (CatalogPath is null)
        {
            yield return $"{CatalogPathVariable} is not set and catalog/plans.json was not found above the content root.";
        }
        else if (!File.Exists(CatalogPath))
        {
            yield return $"{CatalogPathVariable}: the catalog file {CatalogPath} does not exist.";
        }
    }

    private const string StripeRequestsError = $"{StripeRequestsVariable} must be an integer 1..1000 (Stripe requests per second; Stripe's default limit is 25).";

    private static bool Parses(Action parse)
    {
        try
        {
            parse();
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
