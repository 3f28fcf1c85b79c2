using EntitlementDecision.ControlPlane.Configuration;

namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>Registration of the metering services (context, coverage declarations, ledger writer and consumer, rollup job).</summary>
internal static class MeteringServices
{
    public static IServiceCollection AddMetering(this IServiceCollection services)
    {
        services.AddEnvironmentOptions<MeteringOptions>().AsSingleton();
        services.AddDbContext<MeteringDbContext>((sp, o) =>
            MeteringDbContext.Configure(o, sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<Configuration.ControlPlaneOptions>>().Value.Postgres!));
        services.AddSingleton<LedgerWriter>();
        services.AddSingleton<RollupSignal>();
        services.AddSingleton<LedgerConsumer>();
        services.AddHostedService(sp => sp.GetRequiredService<LedgerConsumer>());
        services.AddSingleton<CoveragePublisher>();
        services.AddHostedService(sp => sp.GetRequiredService<CoveragePublisher>());
        services.AddSingleton<RollupJob>();
        services.AddHostedService(sp => sp.GetRequiredService<RollupJob>());
        return services;
    }
}
