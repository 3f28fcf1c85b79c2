using EntitlementDecision.ControlPlane.Admin;
using System.Text.Json;
using EntitlementDecision.ControlPlane.Configuration;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Snapshots;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Stripe;
using EntitlementDecision.Stripe.Api;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Metering;
using EntitlementDecision.ControlPlane.Reconciliation;
using EntitlementDecision.ControlPlane.Subscriptions;
using EntitlementDecision.ControlPlane.Webhooks;

namespace EntitlementDecision.ControlPlane.Hosting;

/// <summary>Service registration of the control plane.</summary>
internal static class ControlPlaneServices
{
    public static IServiceCollection AddControlPlane(this IServiceCollection services, IConfiguration configuration, string contentRoot)
    {
        services.AddEnvironmentOptions<ControlPlaneOptions>()
            .PostConfigure(o => o.CatalogPath = ControlPlaneOptions.ResolveCatalogPath(o.CatalogPath, contentRoot));

        services.TryAddSingletonTimeProvider();
        services.AddSingleton(sp => PlanCatalogLoader.LoadFile(sp.GetRequiredService<IOptions<ControlPlaneOptions>>().Value.CatalogPath!));
        services.AddSingleton(sp => new WebhookSignatureVerifier(
            sp.GetRequiredService<IOptions<ControlPlaneOptions>>().Value.WebhookSecrets,
            WebhookSignatureVerifier.DefaultTolerance,
            sp.GetRequiredService<TimeProvider>()));
        services.AddDbContext<EntitlementsDbContext>((sp, o) => o.UseNpgsql(sp.GetRequiredService<IOptions<ControlPlaneOptions>>().Value.Postgres));
        services.AddSingleton<RedisConnection>();
        services.AddSingleton<OutboxSignal>();
        services.AddWebhooks();
        services.AddSelfServiceBilling();
        services.AddReconciliation();
        // One request budget for every Stripe call of the process, by priority (README, "Stripe request budget").
        services.AddSingleton(sp => new StripeRequestBudget(
            sp.GetRequiredService<IOptions<ControlPlaneOptions>>().Value.StripeRequestsPerSecond,
            sp.GetRequiredService<TimeProvider>()));
        services.AddTransient<StripeBudgetHandler>();
        services.AddHttpClient<IStripeBilling, StripeNetBilling>((http, sp) =>
        {
            var options = sp.GetRequiredService<IOptions<ControlPlaneOptions>>().Value;
            return new StripeNetBilling(http, new StripeApiOptions { ApiKey = options.StripeApiKey!, BaseAddress = new Uri(options.StripeApiBase) });
        }).ConfigureHttpClient(http => http.Timeout = StripeApiOptions.AttemptTimeout)
          .AddHttpMessageHandler<StripeBudgetHandler>();
        services.AddHostedService<DatabaseMigrator>();
        services.AddHealthChecks()
            .AddCheck<PostgresReadyCheck>("postgresql", tags: [Telemetry.HealthEndpoints.ReadyTag])
            .AddCheck<RedisReadyCheck>("redis", tags: [Telemetry.HealthEndpoints.ReadyTag]);
        services.AddSingleton<PostgresReadyCheck>();
        services.AddSingleton<RedisReadyCheck>();
        services.AddHostedService<OperationalGauges>();
        services.AddSingleton<OutboxPublisher>();
        services.AddHostedService(sp => sp.GetRequiredService<OutboxPublisher>());
        services.AddMetering();
        services.AddSingleton<Healing.RedisHealer>();
        services.AddHostedService(sp => sp.GetRequiredService<Healing.RedisHealer>());
        services.AddGovernance();

        services.AddProblemDetails();
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
        services.AddBearerAuthentication();
        services.AddAdminConsole(configuration);
        return services;
    }

    /// <summary>Approvals and the tenant lifecycle: the policy, the approvable actions, the purge job.</summary>
    private static void AddGovernance(this IServiceCollection services)
    {
        services.AddEnvironmentOptions<Approvals.GovernanceOptions>().AsSingleton();
        services.AddScoped<Approvals.ApprovalService>();
        services.AddSingleton<Approvals.IApprovableAction, Tenants.OverrideAction>();
        services.AddSingleton<Approvals.IApprovableAction, Tenants.CompAction>();
        services.AddSingleton<Approvals.IApprovableAction, Tenants.TenantDeleteAction>();
        services.AddSingleton<Approvals.IApprovableAction, Tenants.TenantPurgeAction>();
        services.AddSingleton<Approvals.IApprovableAction, Webhooks.WebhookRetryAction>();
        services.AddScoped<Approvals.IApprovableAction, Reconciliation.ReconciliationRepairAction>();
        services.AddHttpClient(Notices.NoticeDispatcher.HttpClientName, c => c.Timeout = TimeSpan.FromSeconds(10));
        services.AddSingleton<Notices.NoticeDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<Notices.NoticeDispatcher>());
        services.AddSingleton<Tenants.PurgeJob>();
        services.AddHostedService(sp => sp.GetRequiredService<Tenants.PurgeJob>());
        services.AddTransient<Tenants.CollectionPause>();
        services.AddSingleton<Tenants.CollectionPauseJob>();
        services.AddHostedService(sp => sp.GetRequiredService<Tenants.CollectionPauseJob>());
    }

    private static void TryAddSingletonTimeProvider(this IServiceCollection services)
    {
        if (!services.Any(d => d.ServiceType == typeof(TimeProvider)))
        {
            services.AddSingleton(TimeProvider.System);
        }
    }
}
