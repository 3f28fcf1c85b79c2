using Google.Protobuf;
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

/// <summary>ED_SIDECAR_RESPONSE_COMPRESSION=gzip: a caller that accepts gzip gets gzip messages (grpc-encoding and the frame's
/// compressed flag, read off the wire with HttpClient, since Grpc.Net.Client decompresses and hides both).</summary>
public sealed class ResponseCompressionTests
{
    [Theory]
    [InlineData("gzip", "gzip", 1)]
    [InlineData(null, null, 0)]
    public async Task ConfiguredCompression_IsTheResponsesEncoding(string? configured, string? expectedEncoding, int expectedFlag)
    {
        var (app, port) = await ConformanceService.StartAsync(responseCompression: configured);
        await using var _ = app;
        var message = new Contracts.V1.CheckEntitlementRequest { TenantId = "gz", FeatureKey = "projects" }.ToByteArray();
        var frame = new byte[5 + message.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Length);
        message.CopyTo(frame, 5);
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/entitlements.v1.EntitlementDecisionService/CheckEntitlement")
        {
            Version = System.Net.HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(frame),
        };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        request.Headers.TryAddWithoutValidation("grpc-accept-encoding", "identity,gzip");

        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(expectedEncoding, response.Headers.TryGetValues("grpc-encoding", out var values) ? values.Single() : null);
        Assert.Equal(expectedFlag, body[0]);
        Assert.Equal("0", response.TrailingHeaders.GetValues("grpc-status").Single());
    }
}
