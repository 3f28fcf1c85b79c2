namespace EntitlementDecision.ControlPlane.Reconciliation;

/// <summary>Service registration of reconciliation with Stripe: the reconciler and its schedule.</summary>
internal static class ReconciliationServices
{
    public static IServiceCollection AddReconciliation(this IServiceCollection services)
    {
        services.AddScoped<Reconciler>();
        services.AddHostedService<ReconciliationScheduler>();
        return services;
    }
}
