using System.Net;
using System.Net.Sockets;
using EntitlementDecision.Contracts.V1;

namespace EntitlementDecision.Grpc.Tests;

public sealed class ClientTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task NothingListening_Unavailable()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var http = ServerFixture.CreateHttpClient(port);
        var client = new GrpcClient(http);

        var ex = await Assert.ThrowsAsync<RpcException>(() => client.UnaryAsync(
            RawGrpc.CheckEntitlementPath, new CheckEntitlementRequest(), CheckEntitlementResponse.Parser, cancellationToken: Ct));

        Assert.Equal(StatusCode.Unavailable, ex.Status);
    }

    [Fact]
    public async Task NonPositiveTimeout_DeadlineExceededWithoutSending()
    {
        using var http = new HttpClient(new ThrowingHandler()) { BaseAddress = new Uri("http://127.0.0.1:1") };
        var client = new GrpcClient(http);

        var ex = await Assert.ThrowsAsync<RpcException>(() => client.UnaryAsync(
            RawGrpc.CheckEntitlementPath, new CheckEntitlementRequest(), CheckEntitlementResponse.Parser, new CallOptions(TimeSpan.Zero), Ct));

        Assert.Equal(StatusCode.DeadlineExceeded, ex.Status);
    }

    [Theory]
    [InlineData(HttpStatusCode.NotFound, StatusCode.Unimplemented)]
    [InlineData(HttpStatusCode.ServiceUnavailable, StatusCode.Unavailable)]
    public async Task HttpErrorWithoutGrpcStatus_MappedPerSpec(HttpStatusCode httpStatus, StatusCode expected)
    {
        using var http = new HttpClient(new FixedResponseHandler(() => new HttpResponseMessage(httpStatus))) { BaseAddress = new Uri("http://127.0.0.1:1") };
        var client = new GrpcClient(http);

        var ex = await Assert.ThrowsAsync<RpcException>(() => client.UnaryAsync(
            RawGrpc.CheckEntitlementPath, new CheckEntitlementRequest(), CheckEntitlementResponse.Parser, cancellationToken: Ct));

        Assert.Equal(expected, ex.Status);
    }

    [Fact]
    public async Task Request_HasGrpcHeadersTimeoutMetadataAndOneFrame()
    {
        HttpRequestMessage? seen = null;
        byte[]? body = null;
        using var http = new HttpClient(new FixedResponseHandler(() => new HttpResponseMessage(HttpStatusCode.OK)
        {
            Headers = { { "grpc-status", "5" }, { "grpc-message", "gone %C3%BC" } },
            Content = new ByteArrayContent([]) { Headers = { { "content-type", "application/grpc" } } },
        }, async request => { seen = request; body = await request.Content!.ReadAsByteArrayAsync(); })) { BaseAddress = new Uri("http://127.0.0.1:1") };
        var client = new GrpcClient(http);
        var options = new CallOptions(TimeSpan.FromSeconds(2), new Dictionary<string, string> { ["x-request-id"] = "r1" });

        var ex = await Assert.ThrowsAsync<RpcException>(() => client.UnaryAsync(
            RawGrpc.CheckEntitlementPath, new CheckEntitlementRequest { TenantId = "t" }, CheckEntitlementResponse.Parser, options, Ct));

        Assert.Equal(StatusCode.NotFound, ex.Status); // trailers-only status read from the headers
        Assert.Equal("gone ü", ex.Detail);
        Assert.Equal("5", ex.Trailers["grpc-status"]);
        Assert.NotNull(seen);
        Assert.Equal(HttpVersion.Version20, seen.Version);
        Assert.Equal(HttpMethod.Post, seen.Method);
        Assert.Equal("trailers", string.Join(",", seen.Headers.GetValues("te")));
        Assert.Equal("2000000u", string.Join(",", seen.Headers.GetValues("grpc-timeout")));
        Assert.Equal("r1", string.Join(",", seen.Headers.GetValues("x-request-id")));
        Assert.Equal("application/grpc", seen.Content!.Headers.ContentType!.MediaType);
        Assert.Equal(RawGrpc.Frame(new CheckEntitlementRequest { TenantId = "t" }), body);
    }

    private sealed class ThrowingHandler : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            => throw new InvalidOperationException("must not send");
    }

    private sealed class FixedResponseHandler(Func<HttpResponseMessage> response, Func<HttpRequestMessage, Task>? inspect = null) : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (inspect is not null)
            {
                await inspect(request);
            }

            return response();
        }
    }
}
