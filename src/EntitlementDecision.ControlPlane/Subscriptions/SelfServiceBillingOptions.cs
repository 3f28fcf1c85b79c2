using Microsoft.Extensions.Options;

namespace EntitlementDecision.ControlPlane.Subscriptions;

/// <summary>What a plan change does when the tenant's current usage exceeds a limit of the lower plan (<c>ED_DOWNGRADE_OVER_USAGE</c>).</summary>
internal enum DowngradeOverUsagePolicy
{
    /// <summary>409 ProblemDetails naming each feature to reduce (default).</summary>
    Refuse = 1,

    /// <summary>The downgrade is accepted; the answer and the audit entry carry <c>soft_locked: true</c> and the features over the limit.</summary>
    SoftLock = 2,
}

/// <summary>
/// Settings of the tenant-facing billing endpoints (checkout, portal, plan changes) and the pending-change job, read from
/// environment variables (any IConfiguration source):
/// <list type="bullet">
/// <item><c>ED_BILLING_SUCCESS_URL</c> (default <c>http://127.0.0.1:5080/billing/checkout/success?session_id={CHECKOUT_SESSION_ID}</c>):
/// where Checkout sends the customer after paying (Stripe replaces <c>{CHECKOUT_SESSION_ID}</c>).</item>
/// <item><c>ED_BILLING_CANCEL_URL</c> (default <c>http://127.0.0.1:5080/billing/checkout/canceled</c>): where Checkout's back link goes.</item>
/// <item><c>ED_BILLING_PORTAL_RETURN_URL</c> (default <c>http://127.0.0.1:5080/billing/portal/returned</c>): the portal's return link.</item>
/// <item><c>ED_DOWNGRADE_OVER_USAGE</c> (<c>refuse</c> default | <c>soft_lock</c>): see <see cref="DowngradeOverUsagePolicy"/>.</item>
/// <item><c>ED_PLAN_CHANGE_INTERVAL_SECONDS</c> (default 60; 0 = the job does not run): how often due pending plan changes are applied.</item>
/// </list>
/// The URLs must be absolute http(s) URLs; validated at start-up, failures name the variable. The defaults are for development only.
/// </summary>
internal sealed class SelfServiceBillingOptions
{
    public const string SuccessUrlVariable = "ED_BILLING_SUCCESS_URL";
    public const string CancelUrlVariable = "ED_BILLING_CANCEL_URL";
    public const string PortalReturnUrlVariable = "ED_BILLING_PORTAL_RETURN_URL";
    public const string OverUsageVariable = "ED_DOWNGRADE_OVER_USAGE";
    public const string IntervalVariable = "ED_PLAN_CHANGE_INTERVAL_SECONDS";

    public string SuccessUrl { get; set; } = "http://127.0.0.1:5080/billing/checkout/success?session_id={CHECKOUT_SESSION_ID}";

    public string CancelUrl { get; set; } = "http://127.0.0.1:5080/billing/checkout/canceled";

    public string PortalReturnUrl { get; set; } = "http://127.0.0.1:5080/billing/portal/returned";

    public DowngradeOverUsagePolicy OverUsage { get; set; } = DowngradeOverUsagePolicy.Refuse;

    /// <summary>Interval of <see cref="PendingPlanChangeJob"/>; <see cref="TimeSpan.Zero"/> = off.</summary>
    public TimeSpan JobInterval { get; set; } = TimeSpan.FromSeconds(60);

    internal List<string> ParseErrors { get; } = [];

    /// <summary>Reads the options from <paramref name="configuration"/> (unset or blank = default).</summary>
    public static void Bind(SelfServiceBillingOptions o, IConfiguration configuration)
    {
        o.SuccessUrl = Url(configuration, SuccessUrlVariable, o.SuccessUrl, o);
        o.CancelUrl = Url(configuration, CancelUrlVariable, o.CancelUrl, o);
        o.PortalReturnUrl = Url(configuration, PortalReturnUrlVariable, o.PortalReturnUrl, o);
        switch (configuration[OverUsageVariable]?.Trim().ToLowerInvariant())
        {
            case null or "" or "refuse": o.OverUsage = DowngradeOverUsagePolicy.Refuse; break;
            case "soft_lock": o.OverUsage = DowngradeOverUsagePolicy.SoftLock; break;
            default: o.ParseErrors.Add($"{OverUsageVariable} must be 'refuse' or 'soft_lock'."); break;
        }

        var interval = configuration[IntervalVariable];
        if (!string.IsNullOrWhiteSpace(interval))
        {
            if (int.TryParse(interval.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds))
            {
                o.JobInterval = TimeSpan.FromSeconds(seconds);
            }
            else
            {
                o.ParseErrors.Add($"{IntervalVariable} must be a non-negative integer (seconds).");
            }
        }
    }

    private static string Url(IConfiguration configuration, string name, string fallback, SelfServiceBillingOptions o)
    {
        var raw = configuration[name];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return fallback;
        }

        raw = raw.Trim();
        // {CHECKOUT_SESSION_ID} is Stripe's template: not a valid URI character sequence, so check the URL without it.
        if (!Uri.TryCreate(raw.Replace("{CHECKOUT_SESSION_ID}", "x", StringComparison.Ordinal), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            o.ParseErrors.Add($"{name} must be an absolute http(s) URL.");
        }

        return raw;
    }
}

/// <summary>Start-up validation of <see cref="SelfServiceBillingOptions"/>; each failure names the environment variable.</summary>
internal sealed class SelfServiceBillingOptionsValidator : IValidateOptions<SelfServiceBillingOptions>
{
    public ValidateOptionsResult Validate(string? name, SelfServiceBillingOptions options) =>
        options.ParseErrors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(options.ParseErrors);
}

/// <summary>Service registration of subscriptions: <see cref="SubscriptionSync"/>, self-service options, the owner/admin policy and <see cref="PendingPlanChangeJob"/>.</summary>
internal static class SelfServiceBillingServices
{
    public static IServiceCollection AddSelfServiceBilling(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddScoped<SubscriptionSync>();
        services.AddOptions<SelfServiceBillingOptions>().Configure(o => SelfServiceBillingOptions.Bind(o, configuration)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<SelfServiceBillingOptions>, SelfServiceBillingOptionsValidator>();
        services.AddSingleton<PendingPlanChangeJob>();
        services.AddHostedService(sp => sp.GetRequiredService<PendingPlanChangeJob>());
        services.AddAuthorizationBuilder().AddPolicy(CheckoutEndpoints.OwnerOrAdminPolicy, p => p
            .RequireAuthenticatedUser()
            .RequireClaim("role", Auth.Roles.Owner, Auth.Roles.Admin)
            .RequireClaim("tenant_id"));
        return services;
    }
}
