using EntitlementDecision.Grpc.Internal;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;
using Grpc.Health.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EntitlementDecision.Grpc;

public static class GrpcEndpointRouteBuilderExtensions
{
    private const string LoggerCategory = "EntitlementDecision.Grpc";

    private static readonly HealthCheckResponse Serving = new() { Status = HealthCheckResponse.Types.ServingStatus.Serving };
    private static readonly HealthCheckResponse NotServing = new() { Status = HealthCheckResponse.Types.ServingStatus.NotServing };

    /// <summary>
    /// Registers one POST route per method of <paramref name="service"/> ("/package.Service/Method"); methods
    /// without a handler answer UNIMPLEMENTED. Also registers (once) a catch-all that answers UNIMPLEMENTED for
    /// any other "/x/y" POST with content-type application/grpc. Marks the service SERVING in the health registry.
    /// </summary>
    public static GrpcServiceBuilder MapGrpcService(this IEndpointRouteBuilder endpoints, ServiceDescriptor service)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(service);
        var provider = endpoints.ServiceProvider;
        var state = provider.GetService<GrpcMappingState>()
            ?? throw new InvalidOperationException("Call services.AddGrpcProtocol() before mapping gRPC services.");
        var options = provider.GetRequiredService<IOptions<GrpcServerOptions>>().Value;
        if (options.MaxReceiveMessageSize <= 0 || options.MaxSendMessageSize <= 0)
        {
            throw new InvalidOperationException("GrpcServerOptions message size limits must be positive.");
        }

        var logger = provider.GetRequiredService<ILoggerFactory>().CreateLogger(LoggerCategory);
        bool mapCatchAll;
        lock (state.Sync)
        {
            if (!state.MappedServices.Add(service.FullName))
            {
                throw new InvalidOperationException($"gRPC service '{service.FullName}' is already mapped.");
            }

            mapCatchAll = !state.CatchAllMapped;
            state.CatchAllMapped = true;
        }

        var slots = new Dictionary<string, MethodSlot>(StringComparer.Ordinal);
        foreach (var method in service.Methods)
        {
            var path = "/" + service.FullName + "/" + method.Name;
            var slot = new MethodSlot(new UnimplementedMethod(path, "Method is unimplemented.", logger));
            slots.Add(method.Name, slot);
            endpoints.MapPost(path, slot.RequestDelegate).WithDisplayName("gRPC " + path);
        }

        if (mapCatchAll)
        {
            var unknown = new UnimplementedMethod("/{service}/{method}", "Service or method is unimplemented.", logger);
            var pattern = RoutePatternFactory.Parse(
                "/{grpcService}/{grpcMethod}",
                defaults: null,
                parameterPolicies: new RouteValueDictionary { ["grpcMethod"] = new GrpcRequestRouteConstraint() });
            endpoints.Map(pattern, unknown.HandleAsync).WithDisplayName("gRPC unimplemented catch-all");
        }

        provider.GetRequiredService<HealthStatusRegistry>().AddService(service.FullName);
        return new GrpcServiceBuilder(service, slots, options, logger);
    }

    /// <summary>
    /// Maps grpc.health.v1.Health/Check (Watch answers UNIMPLEMENTED), backed by <see cref="HealthStatusRegistry"/>:
    /// SERVING / NOT_SERVING for a known name, NOT_FOUND for an unknown one.
    /// </summary>
    public static IEndpointRouteBuilder MapGrpcHealthService(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var registry = endpoints.ServiceProvider.GetService<HealthStatusRegistry>()
            ?? throw new InvalidOperationException("Call services.AddGrpcProtocol() before mapping the health service.");
        endpoints.MapGrpcService(HealthReflection.Descriptor.Services[0])
            .MapUnary<HealthCheckRequest, HealthCheckResponse>("Check", (request, _) =>
            {
                if (!registry.TryGetStatus(request.Service, out var serving))
                {
                    throw new RpcException(StatusCode.NotFound, "Unknown service.");
                }

                return ValueTask.FromResult(serving ? Serving : NotServing);
            });
        return endpoints;
    }
}
