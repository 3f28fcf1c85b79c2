using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace EntitlementDecision.Sidecar.Tests;

/// <summary>
/// A gRPC frame whose bytes are not the method's request message, sent raw over HTTP/2 to every method the sidecar's composition
/// serves (its own, grpc.health.v1 unary and server-streaming, reflection bidi-streaming): INVALID_ARGUMENT naming the message,
/// no error log (a caller's fault, not the server's), and the server keeps serving. Errors of the handlers still map as before.
/// </summary>
public sealed class MalformedRequestTests
{
    private const string Service = "/entitlements.v1.EntitlementDecisionService/";
    private static readonly byte[] Garbage = [0xFF, 0xFF, 0xFF];

    [Theory]
    [InlineData(Service + "CheckEntitlement", "entitlements.v1.CheckEntitlementRequest")]
    [InlineData(Service + "CheckEntitlements", "entitlements.v1.CheckEntitlementsRequest")]
    [InlineData(Service + "RecordUsage", "entitlements.v1.RecordUsageRequest")]
    [InlineData("/grpc.health.v1.Health/Check", "grpc.health.v1.HealthCheckRequest")]
    [InlineData("/grpc.health.v1.Health/Watch", "grpc.health.v1.HealthCheckRequest")]
    [InlineData("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", "grpc.reflection.v1alpha.ServerReflectionRequest")]
    [InlineData("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "grpc.reflection.v1.ServerReflectionRequest")]
    public async Task GarbageBytes_EveryMethod_InvalidArgumentNamingTheMessage_NoErrorLog(string path, string message)
    {
        using var logs = new FakeLoggerProvider();
        var (app, port) = await ConformanceService.StartAsync(logs: logs);
        await using var _ = app;

        var (status, detail) = await SendAsync(port, path, Garbage);

        Assert.Equal("3", status);
        Assert.StartsWith($"request is not a valid {message}: ", detail);
        Assert.Contains("input ended unexpectedly", detail);
        Assert.DoesNotContain(logs.Collector.GetSnapshot(), r => r.Level >= LogLevel.Warning);
    }

    [Theory]
    [InlineData(new byte[] { 0x00 }, "invalid tag (zero)")]
    [InlineData(new byte[] { 0x0A, 0x05, 0x61 }, "input ended unexpectedly")] // tenant_id claims 5 bytes, 1 follows
    [InlineData(new byte[] { 0x0F }, "invalid wire type")] // field 1 with wire type 7
    public async Task MalformedCheck_InvalidArgumentWithTheParsersReason_ThenServesAValidCall(byte[] body, string reason)
    {
        var (app, port) = await ConformanceService.StartAsync();
        await using var _ = app;

        var (status, detail) = await SendAsync(port, Service + "CheckEntitlement", body);
        var valid = new Contracts.V1.CheckEntitlementRequest { TenantId = "after-garbage", FeatureKey = "projects" };
        var (afterStatus, _) = await SendAsync(port, Service + "CheckEntitlement", Google.Protobuf.MessageExtensions.ToByteArray(valid));

        Assert.Equal("3", status);
        Assert.StartsWith("request is not a valid entitlements.v1.CheckEntitlementRequest: ", detail);
        Assert.Contains(reason, detail, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("0", afterStatus);
    }

    [Theory]
    [InlineData("invalid", "3", ConformanceService.InvalidDetail, LogLevel.Information)]
    [InlineData("store-down", "14", StoreFailureInterceptor.SnapshotDetail, LogLevel.Information)]
    [InlineData("throw", "2", "Exception was thrown by handler.", LogLevel.Error)]
    public async Task HandlerErrors_MapAsBefore(string tenant, string expectedStatus, string expectedDetail, LogLevel worstLog)
    {
        using var logs = new FakeLoggerProvider();
        var (app, port) = await ConformanceService.StartAsync(logs: logs);
        await using var _ = app;
        var request = new Contracts.V1.CheckEntitlementRequest { TenantId = tenant, FeatureKey = "projects" };

        var (status, detail) = await SendAsync(port, Service + "CheckEntitlement", Google.Protobuf.MessageExtensions.ToByteArray(request));

        Assert.Equal(expectedStatus, status);
        Assert.Equal(expectedDetail, detail);
        Assert.Equal(worstLog, logs.Collector.GetSnapshot().Where(r => r.Category?.StartsWith("Grpc", StringComparison.Ordinal) == true).Max(r => r.Level));
    }

    /// <summary>One gRPC frame holding <paramref name="message"/>, POSTed over cleartext HTTP/2; the grpc-status and the decoded
    /// grpc-message, from the trailers or (a trailers-only answer) the headers.</summary>
    private static async Task<(string? Status, string? Detail)> SendAsync(int port, string path, byte[] message)
    {
        var frame = new byte[5 + message.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Length);
        message.CopyTo(frame, 5);
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}{path}")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(frame),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        var ct = TestContext.Current.CancellationToken;

        using var response = await http.SendAsync(request, ct);
        await response.Content.ReadAsByteArrayAsync(ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        string? Get(string name) => response.TrailingHeaders.TryGetValues(name, out var t) ? t.Single()
            : response.Headers.TryGetValues(name, out var h) ? h.Single() : null;
        return (Get("grpc-status"), Get("grpc-message") is { } m ? Uri.UnescapeDataString(m) : null);
    }
}
