using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using EntitlementDecision.ControlPlane.Configuration;

namespace EntitlementDecision.ControlPlane.Webhooks;

/// <summary>Service registration of Stripe webhooks: billing options, receipt and processing, the webhook rate limit.</summary>
internal static class WebhookServices
{
    /// <summary>Rate-limiter policy of <c>POST /billing/webhook</c>.</summary>
    public const string WebhookRateLimitPolicy = "stripe-webhook";

    public static IServiceCollection AddWebhooks(this IServiceCollection services)
    {
        services.AddEnvironmentOptions<BillingOptions>();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<BillingOptions>>().Value.DunningPolicy());
        services.AddMetrics();
        services.AddSingleton<WebhookMetrics>();
        services.AddSingleton<StripeEventSignal>();
        services.AddSingleton<ParsedEventCache>();
        services.AddScoped<StripeWebhookReceiver>();
        services.AddScoped<StripeEventApplier>();
        services.AddHostedService<StripeEventProcessor>();

        services.AddRateLimiter(o =>
        {
            // One bucket for the endpoint: Stripe delivers from many addresses, so a per-client limit would not bound the load.
            o.AddPolicy(WebhookRateLimitPolicy, context =>
            {
                var billing = context.RequestServices.GetRequiredService<IOptions<BillingOptions>>().Value;
                return billing.RateLimitPerSecond <= 0
                    ? RateLimitPartition.GetNoLimiter("stripe-webhook")
                    : RateLimitPartition.GetTokenBucketLimiter("stripe-webhook", _ => new TokenBucketRateLimiterOptions
                    {
                        TokenLimit = billing.RateLimitBurst,
                        TokensPerPeriod = billing.RateLimitPerSecond,
                        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                        QueueLimit = 0,
                        AutoReplenishment = true,
                    });
            });
            o.OnRejected = async (context, ct) =>
            {
                context.HttpContext.RequestServices.GetRequiredService<WebhookMetrics>().RateLimited();
                var response = context.HttpContext.Response;
                response.StatusCode = StatusCodes.Status429TooManyRequests;
                response.Headers.RetryAfter = "1";
                await Results.Problem(
                    statusCode: StatusCodes.Status429TooManyRequests,
                    title: "Too many requests",
                    detail: "The webhook endpoint's rate limit was exceeded; Stripe retries the delivery later.").ExecuteAsync(context.HttpContext);
            };
        });
        return services;
    }
}
