using Grpc.Core;

namespace EntitlementDecision.TestSupport;

/// <summary>The smallest <see cref="ServerCallContext"/>: a method name, the given token and deadline (none by default). Shared
/// with the microbenchmarks.</summary>
public sealed class TestServerCallContext(CancellationToken cancellationToken, DateTime? deadline = null) : ServerCallContext
{
    protected override string MethodCore => "/entitlements.v1.EntitlementDecisionService/Test";
    protected override string HostCore => "127.0.0.1";
    protected override string PeerCore => "ipv4:127.0.0.1:1";
    protected override DateTime DeadlineCore => deadline ?? DateTime.MaxValue;
    protected override Metadata RequestHeadersCore { get; } = [];
    protected override CancellationToken CancellationTokenCore => cancellationToken;
    protected override Metadata ResponseTrailersCore { get; } = [];
    protected override Status StatusCore { get; set; }
    protected override WriteOptions? WriteOptionsCore { get; set; }
    protected override AuthContext AuthContextCore { get; } = new(null, []);

    protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) => throw new NotSupportedException();

    protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
}
