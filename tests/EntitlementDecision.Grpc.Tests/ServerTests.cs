using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Grpc.InteropHost;
using Google.Protobuf;
using Grpc.Health.V1;

namespace EntitlementDecision.Grpc.Tests;

public sealed class ServerTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private const string Check = RawGrpc.CheckEntitlementPath;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static CheckEntitlementRequest Request(string tenant) => new()
    {
        TenantId = tenant,
        Environment = "production",
        FeatureKey = "api_calls",
        RequestedQuantity = 3,
    };

    private Task<CheckEntitlementResponse> CallAsync(string tenant, CallOptions options = default)
        => server.Client.UnaryAsync(Check, Request(tenant), CheckEntitlementResponse.Parser, options, Ct);

    private async Task<RpcException> CallFailsAsync(string tenant, CallOptions options = default)
        => await Assert.ThrowsAsync<RpcException>(() => CallAsync(tenant, options));

    [Fact]
    public async Task CheckEntitlement_ValidRequest_ReturnsAllFields()
    {
        var response = await CallAsync("tenant-a");

        Assert.True(response.Allowed);
        Assert.Equal(DecisionReason.Granted, response.Reason);
        Assert.Equal("tenant-a", response.PlanId);
        Assert.Equal(TestServiceHandlers.SnapshotVersion, response.SnapshotVersion);
        Assert.Equal(997, response.Remaining);
        Assert.Equal(TestServiceHandlers.ResetsAt, response.ResetsAt);
    }

    [Fact]
    public async Task CheckEntitlement_AsyncHandler_ReturnsResponse()
    {
        var response = await CallAsync("async");

        Assert.Equal("async", response.PlanId);
    }

    [Fact]
    public async Task CheckEntitlements_TwoChecks_AnswersInOrder()
    {
        var request = new CheckEntitlementsRequest { Checks = { Request("t1"), Request("t2") } };

        var response = await server.Client.UnaryAsync(
            "/entitlements.v1.EntitlementDecisionService/CheckEntitlements", request, CheckEntitlementsResponse.Parser, cancellationToken: Ct);

        Assert.Equal(["t1", "t2"], response.Results.Select(r => r.PlanId));
    }

    [Fact]
    public async Task Success_Wire_HasGrpcHeadersOneFrameAndStatusTrailer()
    {
        var raw = await RawGrpc.SendAsync(server.Http, Check, RawGrpc.Frame(Request("wire")));

        Assert.Equal(HttpStatusCode.OK, raw.HttpStatus);
        Assert.Equal("application/grpc", raw.ContentType);
        Assert.Equal("identity,gzip", raw.Headers["grpc-accept-encoding"]);
        Assert.Equal(0, raw.Body[0]); // response messages are not compressed
        Assert.Equal(raw.Body.Length - 5, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(raw.Body.AsSpan(1)));
        Assert.Equal("wire", CheckEntitlementResponse.Parser.ParseFrom(raw.Body.AsSpan(5)).PlanId);
        Assert.Equal("0", raw.Trailers["grpc-status"]);
        Assert.False(raw.Headers.ContainsKey("grpc-status"));
    }

    [Fact]
    public async Task HandlerThrowsRpcException_ClientGetsStatusAndExactNonAsciiDetail()
    {
        var ex = await CallFailsAsync("invalid");

        Assert.Equal(StatusCode.InvalidArgument, ex.Status);
        Assert.Equal(TestServiceHandlers.InvalidDetail, ex.Detail);
    }

    [Fact]
    public async Task HandlerThrowsRpcException_Wire_IsTrailersOnlyWithPercentEncodedMessage()
    {
        var raw = await RawGrpc.SendAsync(server.Http, Check, RawGrpc.Frame(Request("invalid")));

        Assert.Equal(HttpStatusCode.OK, raw.HttpStatus);
        Assert.True(raw.IsTrailersOnly);
        Assert.Equal("application/grpc", raw.ContentType);
        Assert.Equal("3", raw.Headers["grpc-status"]);
        Assert.Equal("tenant_id must not be empty: %C3%BC%25", raw.Headers["grpc-message"]);
    }

    [Fact]
    public async Task HandlerThrowsUnexpectedException_UnknownWithoutLeakingText()
    {
        var ex = await CallFailsAsync("throw");

        Assert.Equal(StatusCode.Unknown, ex.Status);
        Assert.Equal("Exception was thrown by handler.", ex.Detail);
        Assert.DoesNotContain("hunter2", ex.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("slow")]
    [InlineData("slow-ignore")]
    public async Task ServerDeadline_HandlerTooSlow_ServerAnswersDeadlineExceeded(string tenant)
    {
        // No client-side timeout: the answer must come from the server's own deadline.
        var stopwatch = Stopwatch.StartNew();
        var raw = await RawGrpc.SendAsync(server.Http, Check, RawGrpc.Frame(Request(tenant)), headers: ("grpc-timeout", "200m"));
        stopwatch.Stop();

        Assert.Equal("4", raw.GrpcStatus);
        Assert.True(raw.IsTrailersOnly);
        Assert.True(stopwatch.Elapsed < TestServiceHandlers.IgnoringDelay - TimeSpan.FromSeconds(2), $"took {stopwatch.Elapsed}");
    }

    [Fact]
    public async Task ClientTimeout_SlowHandler_DeadlineExceeded()
    {
        var ex = await CallFailsAsync("slow", new CallOptions(Timeout: TimeSpan.FromMilliseconds(200)));

        Assert.Equal(StatusCode.DeadlineExceeded, ex.Status);
    }

    [Fact]
    public async Task AfterHandlerOutlivesDeadline_ServerKeepsServing()
    {
        await CallFailsAsync("slow-ignore", new CallOptions(Timeout: TimeSpan.FromMilliseconds(100)));

        var response = await CallAsync("after-slow");

        Assert.Equal("after-slow", response.PlanId);
    }

    [Fact]
    public async Task MalformedGrpcTimeout_IsIgnored()
    {
        var raw = await RawGrpc.SendAsync(server.Http, Check, RawGrpc.Frame(Request("t")), headers: ("grpc-timeout", "soon"));

        Assert.Equal("0", raw.GrpcStatus);
    }

    [Fact]
    public async Task UnmappedMethodOfMappedService_Unimplemented()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => server.Client.UnaryAsync(
            "/entitlements.v1.EntitlementDecisionService/RecordUsage", new RecordUsageRequest { TenantId = "t" }, RecordUsageResponse.Parser, cancellationToken: Ct));

        Assert.Equal(StatusCode.Unimplemented, ex.Status);
    }

    [Theory]
    [InlineData("/no.such.Service/Method")]
    [InlineData("/entitlements.v1.EntitlementDecisionService/NoSuchMethod")]
    public async Task UnknownServiceOrMethod_Unimplemented(string path)
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => server.Client.UnaryAsync(
            path, Request("t"), CheckEntitlementResponse.Parser, cancellationToken: Ct));

        Assert.Equal(StatusCode.Unimplemented, ex.Status);
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("application/grpc-web")]
    [InlineData("text/plain")]
    public async Task WrongContentType_Http415(string contentType)
    {
        var raw = await RawGrpc.SendAsync(server.Http, Check, RawGrpc.Frame(Request("t")), contentType);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, raw.HttpStatus);
    }

    [Fact]
    public async Task WrongContentTypeOnUnknownPath_NotAnsweredAsGrpc()
    {
        var raw = await RawGrpc.SendAsync(server.Http, "/no.such.Service/Method", [], "application/json");

        Assert.Equal(HttpStatusCode.NotFound, raw.HttpStatus);
        Assert.Null(raw.GrpcStatus);
    }

    [Fact]
    public async Task ContentTypeWithCodecSuffix_Accepted()
    {
        var raw = await RawGrpc.SendAsync(server.Http, Check, RawGrpc.Frame(Request("t")), "application/grpc+proto");

        Assert.Equal("0", raw.GrpcStatus);
    }

    [Fact]
    public async Task GetRequest_NotRoutedToGrpc()
    {
        // gRPC routes are POST-only. The catch-all (which matches any method and rejects non-POST in its
        // constraint, so it never turns another app's GET 404 into a 405) makes routing answer 404.
        var raw = await RawGrpc.SendAsync(server.Http, Check, [], method: HttpMethod.Get);

        Assert.Equal(HttpStatusCode.NotFound, raw.HttpStatus);
        Assert.Null(raw.GrpcStatus);
    }

    [Fact]
    public async Task Metadata_RequestHeaderEchoedInResponseHeaderAndTrailer()
    {
        var options = new CallOptions(Headers: new Dictionary<string, string> { ["x-request-id"] = "req-42" });

        var result = await server.Client.UnaryWithMetadataAsync(Check, Request("meta"), CheckEntitlementResponse.Parser, options, Ct);

        Assert.Equal("req-42", result.Headers["x-request-id"]);
        Assert.Equal("req-42", result.Trailers["x-request-id"]);
        Assert.Equal("0", result.Trailers["grpc-status"]);
    }

    [Theory]
    [InlineData("AQI", "0102")]   // unpadded base64, as gRPC allows
    [InlineData("AQID", "010203")]
    public async Task ServerCallContext_MethodDeadlineAndBinaryMetadata(string base64, string expectedHex)
    {
        var options = new CallOptions(TimeSpan.FromSeconds(30), new Dictionary<string, string> { ["x-trace-bin"] = base64 });

        var response = await CallAsync("context", options);

        Assert.Equal($"{Check}|deadline|{expectedHex}", response.PlanId);
    }

    [Fact]
    public async Task ServerCallContext_NoTimeout_NoDeadline()
    {
        var response = await CallAsync("context");

        Assert.Equal($"{Check}|none|", response.PlanId);
    }

    [Fact]
    public async Task MalformedProtobuf_InternalThenServerKeepsServing()
    {
        var raw = await RawGrpc.SendAsync(server.Http, Check, RawGrpc.Frame([0xff, 0xff, 0xff]));

        Assert.Equal("13", raw.GrpcStatus);
        Assert.Equal("Failed to deserialize request message.", raw.GrpcMessage);
        Assert.Equal("after", (await CallAsync("after")).PlanId);
    }

    [Fact]
    public async Task TruncatedFrame_InternalIncompleteMessage()
    {
        var raw = await RawGrpc.SendAsync(server.Http, Check, RawGrpc.Frame([0x0a, 0x01, 0x61], declaredLength: 10));

        Assert.Equal("13", raw.GrpcStatus);
        Assert.Equal("Incomplete message.", raw.GrpcMessage);
    }

    [Fact]
    public async Task TruncatedFrameHeader_InternalIncompleteMessage()
    {
        var raw = await RawGrpc.SendAsync(server.Http, Check, [0, 0, 0]);

        Assert.Equal("13", raw.GrpcStatus);
    }

    [Fact]
    public async Task NoRequestMessage_Unimplemented()
    {
        var raw = await RawGrpc.SendAsync(server.Http, Check, []);

        Assert.Equal("12", raw.GrpcStatus);
        Assert.Equal("Unary method expects exactly one request message.", raw.GrpcMessage);
    }

    [Fact]
    public async Task TwoRequestMessages_Unimplemented()
    {
        var frame = RawGrpc.Frame(Request("t"));

        var raw = await RawGrpc.SendAsync(server.Http, Check, [.. frame, .. frame]);

        Assert.Equal("12", raw.GrpcStatus);
        Assert.Equal("Unary method expects exactly one request message.", raw.GrpcMessage);
    }

    [Fact]
    public async Task RequestLargerThanLimit_ResourceExhausted()
    {
        var ex = await CallFailsAsync(new string('x', ServerFixture.MessageLimit + 1));

        Assert.Equal(StatusCode.ResourceExhausted, ex.Status);
    }

    [Fact]
    public async Task RequestJustUnderLimit_Succeeds()
    {
        var tenant = new string('x', ServerFixture.MessageLimit - 100);

        var response = await server.Client.UnaryAsync(
            Check, new CheckEntitlementRequest { TenantId = tenant }, CheckEntitlementResponse.Parser, cancellationToken: Ct);

        Assert.Equal(tenant, response.PlanId);
    }

    [Fact]
    public async Task ResponseLargerThanLimit_ResourceExhausted()
    {
        var ex = await CallFailsAsync("big-response");

        Assert.Equal(StatusCode.ResourceExhausted, ex.Status);
    }

    [Fact]
    public async Task GzipRequest_Decoded()
    {
        var raw = await RawGrpc.SendAsync(server.Http, Check, RawGrpc.Frame(Gzip(Request("zipped").ToByteArray()), flag: 1), headers: ("grpc-encoding", "gzip"));

        Assert.Equal("0", raw.GrpcStatus);
        Assert.Equal("zipped", CheckEntitlementResponse.Parser.ParseFrom(raw.Body.AsSpan(5)).PlanId);
    }

    [Fact]
    public async Task GzipRequestDecompressingPastLimit_ResourceExhausted()
    {
        var big = new CheckEntitlementRequest { TenantId = new string('x', ServerFixture.MessageLimit * 2) }.ToByteArray();

        var raw = await RawGrpc.SendAsync(server.Http, Check, RawGrpc.Frame(Gzip(big), flag: 1), headers: ("grpc-encoding", "gzip"));

        Assert.Equal("8", raw.GrpcStatus);
    }

    [Fact]
    public async Task CompressedWithUnsupportedEncoding_UnimplementedWithAcceptEncoding()
    {
        var raw = await RawGrpc.SendAsync(server.Http, Check, RawGrpc.Frame([1, 2, 3], flag: 1), headers: ("grpc-encoding", "snappy"));

        Assert.Equal("12", raw.GrpcStatus);
        Assert.Equal("identity,gzip", raw.Headers["grpc-accept-encoding"]);
    }

    [Fact]
    public async Task CompressedFlagWithoutEncoding_Internal()
    {
        var raw = await RawGrpc.SendAsync(server.Http, Check, RawGrpc.Frame(Gzip(Request("t").ToByteArray()), flag: 1));

        Assert.Equal("13", raw.GrpcStatus);
    }

    [Fact]
    public async Task ManyConcurrentCalls_AllSucceed()
    {
        var calls = Enumerable.Range(0, 300).Select(i => CallAsync("c" + i)).ToArray();

        var responses = await Task.WhenAll(calls);

        Assert.Equal(Enumerable.Range(0, 300).Select(i => "c" + i), responses.Select(r => r.PlanId));
    }

    [Theory]
    [InlineData("", HealthCheckResponse.Types.ServingStatus.Serving)]
    [InlineData("entitlements.v1.EntitlementDecisionService", HealthCheckResponse.Types.ServingStatus.Serving)]
    [InlineData("grpc.health.v1.Health", HealthCheckResponse.Types.ServingStatus.Serving)]
    public async Task HealthCheck_KnownService_Serving(string service, HealthCheckResponse.Types.ServingStatus expected)
    {
        var response = await server.Client.UnaryAsync(
            "/grpc.health.v1.Health/Check", new HealthCheckRequest { Service = service }, HealthCheckResponse.Parser, cancellationToken: Ct);

        Assert.Equal(expected, response.Status);
    }

    [Fact]
    public async Task HealthCheck_UnknownService_NotFound()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => server.Client.UnaryAsync(
            "/grpc.health.v1.Health/Check", new HealthCheckRequest { Service = "no.such.Service" }, HealthCheckResponse.Parser, cancellationToken: Ct));

        Assert.Equal(StatusCode.NotFound, ex.Status);
    }

    [Fact]
    public async Task HealthCheck_StatusSetToNotServing_NotServing()
    {
        server.Health.SetStatus("test.Draining", serving: false);

        var response = await server.Client.UnaryAsync(
            "/grpc.health.v1.Health/Check", new HealthCheckRequest { Service = "test.Draining" }, HealthCheckResponse.Parser, cancellationToken: Ct);

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, response.Status);
    }

    [Fact]
    public async Task ClientCancellation_Cancelled()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var call = server.Client.UnaryAsync(Check, Request("slow"), CheckEntitlementResponse.Parser, cancellationToken: cts.Token);
        cts.Cancel();

        var ex = await Assert.ThrowsAsync<RpcException>(() => call);

        Assert.Equal(StatusCode.Cancelled, ex.Status);
    }

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }
}
