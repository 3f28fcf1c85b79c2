using EntitlementDecision.ControlPlane.Configuration;

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
/// The URLs must be absolute http(s) URLs; validated at start-up (<see cref="EnvironmentOptions"/>), failures name the variable. The defaults are for development only.
/// </summary>
internal sealed class SelfServiceBillingOptions : EnvironmentOptions
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

    protected internal override void Read(EnvironmentReader env)
    {
        SuccessUrl = env.Text(SuccessUrlVariable) ?? SuccessUrl;
        CancelUrl = env.Text(CancelUrlVariable) ?? CancelUrl;
        PortalReturnUrl = env.Text(PortalReturnUrlVariable) ?? PortalReturnUrl;
        OverUsage = env.Choice(OverUsageVariable, OverUsage, $"{OverUsageVariable} must be 'refuse' or 'soft_lock'.",
            ("refuse", DowngradeOverUsagePolicy.Refuse), ("soft_lock", DowngradeOverUsagePolicy.SoftLock));
        JobInterval = TimeSpan.FromSeconds(env.Int(IntervalVariable, (int)JobInterval.TotalSeconds, $"{IntervalVariable} must be a non-negative integer (seconds)."));
    }

    protected internal override IEnumerable<string> Check()
    {
        // {CHECKOUT_SESSION_ID} is Stripe's template: not a valid URI character sequence, so check the URL without it.
        foreach (var (name, url) in new[] { (SuccessUrlVariable, SuccessUrl), (CancelUrlVariable, CancelUrl), (PortalReturnUrlVariable, PortalReturnUrl) })
        {
            if (!IsHttpUrl(url.Replace("{CHECKOUT_SESSION_ID}", "x", StringComparison.Ordinal)))
            {
                yield return $"{name} must be an absolute http(s) URL.";
            }
        }
    }
}

/// <summary>Service registration of subscriptions: <see cref="SubscriptionSync"/>, self-service options, the owner/admin policy and <see cref="PendingPlanChangeJob"/>.</summary>
internal static class SelfServiceBillingServices
{
    public static IServiceCollection AddSelfServiceBilling(this IServiceCollection services)
    {
        services.AddScoped<SubscriptionSync>();
        services.AddEnvironmentOptions<SelfServiceBillingOptions>();
        services.AddSingleton<PendingPlanChangeJob>();
        services.AddHostedService(sp => sp.GetRequiredService<PendingPlanChangeJob>());
        services.AddAuthorizationBuilder().AddPolicy(SelfServiceBilling.OwnerOrAdminPolicy, p => p
            .RequireAuthenticatedUser()
            .RequireClaim("role", Auth.Roles.Owner, Auth.Roles.Admin)
            .RequireClaim("tenant_id"));
        return services;
    }
}
