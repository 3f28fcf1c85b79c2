using System.Diagnostics.Metrics;

namespace EntitlementDecision.Sidecar.DecisionLog;

internal static class DecisionLogServices
{
    /// <summary>
    /// Registers <see cref="DecisionLogWriter"/> (a singleton, also the hosted service that writes the spool) when
    /// <paramref name="options"/> name a directory; otherwise nothing, and <see cref="DecisionService"/> logs nothing.
    /// </summary>
    public static IServiceCollection AddDecisionLog(this IServiceCollection services, DecisionLogOptions options)
    {
        if (!options.Enabled)
        {
            return services;
        }

        services.AddMetrics();
        services.AddSingleton(sp => new DecisionLogWriter(
            options, sp.GetRequiredService<IMeterFactory>(), sp.GetRequiredService<ILogger<DecisionLogWriter>>(), sp.GetService<TimeProvider>() ?? TimeProvider.System));
        services.AddHostedService(sp => sp.GetRequiredService<DecisionLogWriter>());
        return services;
    }
}
