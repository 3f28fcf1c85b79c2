using System.Net;
using EntitlementDecision.Grpc.InteropHost;
using Microsoft.AspNetCore.Builder;

namespace EntitlementDecision.Grpc.Tests;

/// <summary>A real Kestrel server (127.0.0.1, port 0, HTTP/2 only) with the shared test handlers and 64 KiB limits.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public const int MessageLimit = 64 * 1024;

    private WebApplication? _app;

    public int Port { get; private set; }

    public HttpClient Http { get; private set; } = null!;

    public GrpcClient Client { get; private set; } = null!;

    public HealthStatusRegistry Health => (HealthStatusRegistry)_app!.Services.GetService(typeof(HealthStatusRegistry))!;

    public async ValueTask InitializeAsync()
    {
        _app = await InteropServer.StartAsync(0, o =>
        {
            o.MaxReceiveMessageSize = MessageLimit;
            o.MaxSendMessageSize = MessageLimit;
        });
        Port = InteropServer.GetPort(_app);
        Http = CreateHttpClient(Port);
        Client = new GrpcClient(Http);
    }

    public static HttpClient CreateHttpClient(int port) => new(new SocketsHttpHandler { EnableMultipleHttp2Connections = true })
    {
        BaseAddress = new Uri($"http://127.0.0.1:{port}"),
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }
}
