using System.Text;
using Microsoft.Extensions.Options;

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
/// Validated at start-up (<see cref="ControlPlaneOptionsValidator"/>); failures name the variable.
/// </summary>
internal sealed class ControlPlaneOptions
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

    /// <summary>ED_STRIPE_REQUESTS_PER_SECOND (1..1000, default 25): the process's Stripe request budget (<c>StripeRequestBudget</c>);
    /// null when the variable is not an integer (reported by the validator).</summary>
    public int? StripeRequestsPerSecond { get; set; } = DefaultStripeRequestsPerSecond;

    /// <summary>Absolute path of the catalog file, or null when none was found.</summary>
    public string? CatalogPath { get; set; }

    /// <summary>Reads the options from <paramref name="configuration"/>; <paramref name="contentRoot"/> anchors the default catalog search.</summary>
    public static void Bind(ControlPlaneOptions options, IConfiguration configuration, string contentRoot)
    {
        options.WebhookSecrets = (configuration[WebhookSecretVariable] ?? "")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        options.StripeApiKey = NullIfBlank(configuration[ApiKeyVariable]);
        options.TokenSigningKey = NullIfBlank(configuration[SigningKeyVariable]);
        options.AuthAuthority = NullIfBlank(configuration[AuthAuthorityVariable]);
        options.AuthAudience = NullIfBlank(configuration[AuthAudienceVariable]);
        options.RedisHeal = !string.Equals(NullIfBlank(configuration[RedisHealVariable]), "off", StringComparison.OrdinalIgnoreCase);
        options.Postgres = NullIfBlank(configuration[PostgresVariable]);
        options.Redis = NullIfBlank(configuration[RedisVariable]);
        options.Url = NullIfBlank(configuration[UrlVariable]) ?? DefaultUrl;
        options.Region = NullIfBlank(configuration[RegionVariable]) ?? DefaultRegion;
        options.StripeApiBase = NullIfBlank(configuration[StripeApiBaseVariable]) ?? DefaultStripeApiBase;
        options.StripeRequestsPerSecond = NullIfBlank(configuration[StripeRequestsVariable]) is { } budget
            ? int.TryParse(budget, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var perSecond) ? perSecond : null
            : DefaultStripeRequestsPerSecond;
        options.CatalogPath = ResolveCatalogPath(NullIfBlank(configuration[CatalogPathVariable]), contentRoot);
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

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}

/// <summary>Start-up validation of <see cref="ControlPlaneOptions"/>; each failure names the environment variable, never its value.</summary>
internal sealed class ControlPlaneOptionsValidator : IValidateOptions<ControlPlaneOptions>
{
    public ValidateOptionsResult Validate(string? name, ControlPlaneOptions options)
    {
        var failures = new List<string>();
        if (options.WebhookSecrets.Count == 0)
        {
            failures.Add($"{ControlPlaneOptions.WebhookSecretVariable} is required (the Stripe webhook endpoint secret; comma-separated for rotation).");
        }

        if (options.StripeApiKey is null)
        {
            failures.Add($"{ControlPlaneOptions.ApiKeyVariable} is required.");
        }

        if (options.AuthAuthority is not null)
        {
            if (!Uri.TryCreate(options.AuthAuthority, UriKind.Absolute, out var authority)
                || !(authority.Scheme == Uri.UriSchemeHttps || ControlPlaneOptions.IsLoopbackHttp(options.AuthAuthority)))
            {
                failures.Add($"{ControlPlaneOptions.AuthAuthorityVariable} must be an https URL (http only on a loopback host).");
            }

            if (options.AuthAudience is null)
            {
                failures.Add($"{ControlPlaneOptions.AuthAudienceVariable} is required with {ControlPlaneOptions.AuthAuthorityVariable}.");
            }
        }

        // With an external issuer the dev key is optional (mint-token then refuses to run).
        if (options.TokenSigningKey is null && options.AuthAuthority is null)
        {
            failures.Add($"{ControlPlaneOptions.SigningKeyVariable} is required (HMAC key for bearer tokens, at least 32 bytes).");
        }
        else if (options.TokenSigningKey is not null && Encoding.UTF8.GetByteCount(options.TokenSigningKey) < 32)
        {
            failures.Add($"{ControlPlaneOptions.SigningKeyVariable} is too short: at least 32 bytes are required.");
        }

        if (options.Postgres is null)
        {
            failures.Add($"{ControlPlaneOptions.PostgresVariable} is required (Npgsql connection string).");
        }
        else
        {
            try
            {
                _ = new Npgsql.NpgsqlConnectionStringBuilder(options.Postgres);
            }
            catch (ArgumentException)
            {
                failures.Add($"{ControlPlaneOptions.PostgresVariable} is not a valid Npgsql connection string.");
            }
        }

        if (options.Redis is null)
        {
            failures.Add($"{ControlPlaneOptions.RedisVariable} is required (e.g. 127.0.0.1:6379).");
        }
        else
        {
            try
            {
                _ = StackExchange.Redis.ConfigurationOptions.Parse(options.Redis);
            }
            catch (ArgumentException)
            {
                failures.Add($"{ControlPlaneOptions.RedisVariable} is not a valid StackExchange.Redis configuration.");
            }
        }

        if (!Uri.TryCreate(options.Url, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            failures.Add($"{ControlPlaneOptions.UrlVariable} must be an absolute http(s) URL.");
        }

        if (!Engine.Identifiers.IsEnvironment(options.Region))
        {
            failures.Add($"{ControlPlaneOptions.RegionVariable} must be a region id (lower-case letters, digits and '-', at most 32).");
        }

        if (!Uri.TryCreate(options.StripeApiBase, UriKind.Absolute, out var stripeBase) || (stripeBase.Scheme != Uri.UriSchemeHttp && stripeBase.Scheme != Uri.UriSchemeHttps))
        {
            failures.Add($"{ControlPlaneOptions.StripeApiBaseVariable} must be an absolute http(s) URL.");
        }

        if (options.StripeRequestsPerSecond is not (>= 1 and <= 1000))
        {
            failures.Add($"{ControlPlaneOptions.StripeRequestsVariable} must be an integer 1..1000 (Stripe requests per second; Stripe's default limit is 25).");
        }

        if (options.CatalogPath is null)
        {
            failures.Add($"{ControlPlaneOptions.CatalogPathVariable} is not set and catalog/plans.json was not found above the content root.");
        }
        else if (!File.Exists(options.CatalogPath))
        {
            failures.Add($"{ControlPlaneOptions.CatalogPathVariable}: the catalog file {options.CatalogPath} does not exist.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
