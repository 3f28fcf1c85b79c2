using EntitlementDecision.Contracts.V1;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace EntitlementDecision.Sidecar;

/// <summary>
/// The sidecar's gRPC composition, shared by the host and the conformance tests so both run the same server:
/// Grpc.AspNetCore with <see cref="StoreFailureInterceptor"/>, requests that do not parse INVALID_ARGUMENT
/// (<see cref="ParseCheckedMethodProvider{TService}"/>), 4 MiB messages (larger: RESOURCE_EXHAUSTED), gzip requests,
/// optional gzip responses (ED_SIDECAR_RESPONSE_COMPRESSION), grpc.health.v1 (Check and Watch; NOT_SERVING until the
/// invalidation subscription is live) and server reflection.
/// </summary>
internal static class SidecarGrpc
{
    /// <summary>The full name of the service, as health and reflection list it.</summary>
    public static readonly string ServiceName = EntitlementDecisionService.Descriptor.FullName;

    public const int MaxMessageSize = 4 * 1024 * 1024;

    public static IServiceCollection AddSidecarGrpc(this IServiceCollection services, string? responseCompression)
    {
        // One interceptor instance for every call (without a DI registration Grpc.AspNetCore activates one per call).
        services.AddSingleton<StoreFailureInterceptor>();
        services.AddGrpc(o =>
        {
            o.Interceptors.Add<StoreFailureInterceptor>();
            o.MaxReceiveMessageSize = MaxMessageSize;
            o.MaxSendMessageSize = MaxMessageSize;
            o.EnableDetailedErrors = false;
            if (responseCompression is { Length: > 0 })
            {
                o.ResponseCompressionAlgorithm = responseCompression;
            }
        });
        ParseCheckedMethodProvider.Replace(services);
        services.AddGrpcReflection();
        services.AddSingleton<InvalidationHealth>();
        services.AddGrpcHealthChecks(o =>
            {
                o.Services.Clear();
                o.Services.Map("", _ => true);
                o.Services.Map(ServiceName, _ => true);
            })
            .AddCheck<InvalidationHealth>("invalidations");
        // Watch streams the published results: publish at once and every second, so a watcher sees SERVING promptly.
        services.Configure<HealthCheckPublisherOptions>(o =>
        {
            o.Delay = TimeSpan.Zero;
            o.Period = TimeSpan.FromSeconds(1);
        });
        return services;
    }

    public static void MapSidecarGrpc<TService>(this IEndpointRouteBuilder endpoints)
        where TService : EntitlementDecisionService.EntitlementDecisionServiceBase
    {
        endpoints.MapGrpcService<TService>();
        endpoints.MapGrpcHealthChecksService();
        endpoints.MapGrpcReflectionService();
    }
}
