using EntitlementDecision.Grpc.Internal;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace EntitlementDecision.Grpc;

public static class GrpcServiceCollectionExtensions
{
    /// <summary>
    /// Registers the gRPC protocol layer: <see cref="GrpcServerOptions"/>, the <see cref="HealthStatusRegistry"/>
    /// singleton and routing. The Kestrel endpoint serving gRPC must be HTTP/2 only (h2c prior knowledge).
    /// </summary>
    public static IServiceCollection AddGrpcProtocol(this IServiceCollection services, Action<GrpcServerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddRouting();
        services.AddOptions<GrpcServerOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton<HealthStatusRegistry>();
        services.TryAddSingleton<GrpcMappingState>();
        return services;
    }
}
