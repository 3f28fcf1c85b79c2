using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EntitlementDecision.Grpc.InteropHost;

/// <summary>Starts Kestrel on 127.0.0.1 (HTTP/2 only, h2c) with <see cref="TestServiceHandlers"/> mapped.</summary>
public static class InteropServer
{
    public static async Task<WebApplication> StartAsync(int port, Action<GrpcServerOptions>? configure = null, LogLevel minimumLogLevel = LogLevel.Warning)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole().SetMinimumLevel(minimumLogLevel);
        builder.WebHost.ConfigureKestrel(kestrel =>
            kestrel.Listen(System.Net.IPAddress.Loopback, port, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpcProtocol(configure);

        var app = builder.Build();
        TestServiceHandlers.Map(app);
        await app.StartAsync().ConfigureAwait(false);
        return app;
    }

    /// <summary>The port Kestrel actually bound (for port 0).</summary>
    public static int GetPort(WebApplication app)
    {
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return new Uri(address).Port;
    }
}
