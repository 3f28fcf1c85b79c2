using EntitlementDecision.Contracts.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace EntitlementDecision.Client.Tests;

/// <summary>The client over a Unix domain socket (<c>unix:/path</c>) against a real Kestrel gRPC server listening on one.</summary>
public sealed class UnixSocketTests : IAsyncLifetime
{
    private readonly string _socket = Path.Combine(Path.GetTempPath(), $"ed-client-{Guid.NewGuid():n}.sock");
    private WebApplication? _server;

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.ListenUnixSocket(_socket, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        _server = builder.Build();
        _server.MapGrpcService<EchoTenantService>();
        await _server.StartAsync(TestContext.Current.CancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        File.Delete(_socket);
    }

    [Fact]
    public async Task InjectedClient_OverTheSocket_GetsTheServersAnswer()
    {
        var services = new ServiceCollection();
        services.AddEntitlementDecisionClient(o =>
        {
            o.Address = new Uri("unix:" + _socket);
            o.Deadline = TimeSpan.FromSeconds(10); // the first call JITs both ends; the default 500 ms is for a warm sidecar
        });
        var client = services.BuildServiceProvider().GetRequiredService<IEntitlementClient>();

        var answer = await client.CheckAsync("acme", "projects", cancellationToken: TestContext.Current.CancellationToken);

        Assert.False(answer.Fallback, answer.FallbackCause);
        Assert.True(answer.Allowed);
        Assert.Equal("plan-of-acme", answer.PlanId);
    }

    [Fact]
    public async Task FactoryClient_OverTheSocket_GetsTheServersAnswer()
    {
        var (client, channel) = EntitlementClientFactory.Create(new EntitlementClientOptions { Address = new Uri("unix:" + _socket), Deadline = TimeSpan.FromSeconds(10) });
        using (channel)
        {
            var answer = await client.CheckAsync("globex", "projects", cancellationToken: TestContext.Current.CancellationToken);
            Assert.Equal("plan-of-globex", answer.PlanId);
        }
    }

    [Fact]
    public void OtherSchemes_Refused()
    {
        var services = new ServiceCollection();
        services.AddEntitlementDecisionClient(o => o.Address = new Uri("https://127.0.0.1:1"));
        var provider = services.BuildServiceProvider();
        Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => provider.GetRequiredService<IEntitlementClient>());
    }

    private sealed class EchoTenantService : EntitlementDecisionService.EntitlementDecisionServiceBase
    {
        public override Task<CheckEntitlementResponse> CheckEntitlement(CheckEntitlementRequest request, ServerCallContext context) =>
            Task.FromResult(new CheckEntitlementResponse { Allowed = true, Reason = DecisionReason.Granted, PlanId = "plan-of-" + request.TenantId, SnapshotVersion = 1 });
    }
}
