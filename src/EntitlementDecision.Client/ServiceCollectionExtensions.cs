using EntitlementDecision.Contracts.V1;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EntitlementDecision.Client;

/// <summary>Registration of the entitlement client in a product service.</summary>
public static class ServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IEntitlementClient"/> (transient, on a Grpc.Net.ClientFactory client to
    /// <see cref="EntitlementClientOptions.Address"/>) and the options. Example:
    /// <c>services.AddEntitlementDecisionClient(o => { o.Address = new("http://127.0.0.1:50051"); o.Fallbacks["projects"] = FallbackMode.FailOpen; });</c>
    /// </summary>
    public static IServiceCollection AddEntitlementDecisionClient(this IServiceCollection services, Action<EntitlementClientOptions>? configure = null)
    {
        var options = services.AddOptions<EntitlementClientOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.Validate(o => o.Address.IsAbsoluteUri && o.Deadline > TimeSpan.Zero, "EntitlementClientOptions: Address must be absolute and Deadline > 0");
        services.AddGrpcClient<EntitlementDecisionService.EntitlementDecisionServiceClient>((sp, o) =>
                o.Address = sp.GetRequiredService<IOptions<EntitlementClientOptions>>().Value.Address)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { EnableMultipleHttp2Connections = true });
        services.AddTransient<IEntitlementClient, EntitlementClient>();
        return services;
    }
}
