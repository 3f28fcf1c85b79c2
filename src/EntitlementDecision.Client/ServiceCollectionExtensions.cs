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
    /// In the sidecar's pod, <c>o.Address = new("unix:/var/run/entitlements/sidecar.sock")</c> calls it over a Unix domain socket.
    /// </summary>
    public static IServiceCollection AddEntitlementDecisionClient(this IServiceCollection services, Action<EntitlementClientOptions>? configure = null)
    {
        var options = services.AddOptions<EntitlementClientOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.Validate(
            o => o.Address.IsAbsoluteUri && (o.Address.Scheme == Uri.UriSchemeHttp || SidecarTransport.IsUnix(o.Address)) && o.Deadline > TimeSpan.Zero,
            "EntitlementClientOptions: Address must be http://host:port or unix:/path, and Deadline > 0");
        services.AddGrpcClient<EntitlementDecisionService.EntitlementDecisionServiceClient>((sp, o) =>
                o.Address = SidecarTransport.ChannelAddress(sp.GetRequiredService<IOptions<EntitlementClientOptions>>().Value.Address))
            .ConfigurePrimaryHttpMessageHandler(sp => SidecarTransport.Handler(sp.GetRequiredService<IOptions<EntitlementClientOptions>>().Value.Address));
        services.AddTransient<IEntitlementClient, EntitlementClient>();
        return services;
    }
}
