using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;

namespace EntitlementDecision.Sidecar.Tests;

/// <summary>grpc.health.v1 on the sidecar's composition: NOT_SERVING until the invalidation subscription is live, then SERVING
/// (Check at once, Watch as the next published status), and NOT_SERVING again when it drops.</summary>
public sealed class HealthTests
{
    [Fact]
    public async Task SubscriptionNotLive_NotServing_ThenLive_Serving_ThenDropped_NotServing()
    {
        var (app, port) = await ConformanceService.StartAsync(live: false);
        await using var _ = app;
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
        var health = new Health.HealthClient(channel);
        var subscription = app.Services.GetRequiredService<InvalidationHealth>();
        var ct = TestContext.Current.CancellationToken;

        var before = await health.CheckAsync(new HealthCheckRequest { Service = SidecarGrpc.ServiceName }, cancellationToken: ct);
        using var watch = health.Watch(new HealthCheckRequest { Service = "" }, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct);
        var statuses = watch.ResponseStream;
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, before.Status);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, await NextAsync(statuses, ct));

        subscription.SetLive(true);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await NextAsync(statuses, ct));
        var during = await health.CheckAsync(new HealthCheckRequest { Service = SidecarGrpc.ServiceName }, cancellationToken: ct);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, during.Status);

        subscription.SetLive(false);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, await NextAsync(statuses, ct));
        var unknown = await Assert.ThrowsAsync<RpcException>(async () => await health.CheckAsync(new HealthCheckRequest { Service = "no.such.Service" }, cancellationToken: ct));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
    }

    private static async Task<HealthCheckResponse.Types.ServingStatus> NextAsync(IAsyncStreamReader<HealthCheckResponse> statuses, CancellationToken ct)
    {
        Assert.True(await statuses.MoveNext(ct), "the Watch stream ended");
        return statuses.Current.Status;
    }
}

/// <summary>ED_SIDECAR_RESPONSE_COMPRESSION=gzip: answers are gzip for a client that accepts it (Grpc.Net.Client does).</summary>
public sealed class ResponseCompressionTests
{
    [Theory]
    [InlineData("gzip", "gzip")]
    [InlineData(null, null)]
    public async Task ConfiguredCompression_IsTheResponsesEncoding(string? configured, string? expected)
    {
        var (app, port) = await ConformanceService.StartAsync(responseCompression: configured);
        await using var _ = app;
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
        var client = new Contracts.V1.EntitlementDecisionService.EntitlementDecisionServiceClient(channel);

        using var call = client.CheckEntitlementAsync(new Contracts.V1.CheckEntitlementRequest { TenantId = "gz", FeatureKey = "projects" }, cancellationToken: TestContext.Current.CancellationToken);
        var headers = await call.ResponseHeadersAsync;
        var response = await call;

        Assert.Equal("gz", response.PlanId);
        Assert.Equal(expected, headers.GetValue("grpc-encoding"));
    }
}
