using EntitlementDecision.Contracts.V1;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Options;
using Proto = EntitlementDecision.Contracts.V1.EntitlementDecisionService;

namespace EntitlementDecision.Client;

/// <summary>
/// <see cref="IEntitlementClient"/> on the generated gRPC client. Each call gets the configured deadline; a status that means
/// "the sidecar could not answer" becomes the feature's fallback (see <see cref="IsUnanswered"/>).
/// </summary>
internal sealed class EntitlementClient(Proto.EntitlementDecisionServiceClient grpc, IOptions<EntitlementClientOptions> options) : IEntitlementClient
{
    private readonly EntitlementClientOptions _options = options.Value;

    public Task<CheckResult> CheckAsync(string tenantId, string featureKey, long requestedQuantity = 0, string? environment = null, CancellationToken cancellationToken = default) =>
        CheckAsync(new EntitlementCheck(tenantId, featureKey, requestedQuantity, environment), cancellationToken);

    public async Task<CheckResult> CheckAsync(EntitlementCheck check, CancellationToken cancellationToken = default)
    {
        try
        {
            var response = await grpc.CheckEntitlementAsync(ToRequest(check), CallOptions(cancellationToken)).ConfigureAwait(false);
            return new CheckResult(check.FeatureKey, response.Allowed, response.Reason, Fallback: false, response);
        }
        catch (RpcException e) when (IsUnanswered(e, cancellationToken))
        {
            return Fallback(check.FeatureKey, e);
        }
    }

    private CheckEntitlementRequest ToRequest(EntitlementCheck check) => new()
    {
        TenantId = check.TenantId,
        Environment = check.Environment ?? _options.Environment,
        FeatureKey = check.FeatureKey,
        RequestedQuantity = check.RequestedQuantity,
        MinSnapshotVersion = check.MinSnapshotVersion,
    };

    public async Task<IReadOnlyList<CheckResult>> CheckManyAsync(IReadOnlyList<EntitlementCheck> checks, CancellationToken cancellationToken = default)
    {
        var request = new CheckEntitlementsRequest();
        foreach (var check in checks)
        {
            request.Checks.Add(ToRequest(check));
        }

        try
        {
            var response = await grpc.CheckEntitlementsAsync(request, CallOptions(cancellationToken)).ConfigureAwait(false);
            var results = new CheckResult[response.Results.Count];
            for (var i = 0; i < results.Length; i++)
            {
                var r = response.Results[i];
                results[i] = new CheckResult(checks[i].FeatureKey, r.Allowed, r.Reason, Fallback: false, r);
            }

            return results;
        }
        catch (RpcException e) when (IsUnanswered(e, cancellationToken))
        {
            return [.. checks.Select(c => Fallback(c.FeatureKey, e))];
        }
    }

    public async Task<UsageResult> RecordUsageAsync(RecordUsageRequest usage, CancellationToken cancellationToken = default)
    {
        if (usage.Environment.Length == 0)
        {
            usage = usage.Clone();
            usage.Environment = _options.Environment;
        }

        try
        {
            var response = await grpc.RecordUsageAsync(usage, CallOptions(cancellationToken)).ConfigureAwait(false);
            return new UsageResult(response.Accepted, Recorded: response.Accepted && !response.Duplicate, response.Reason, Fallback: false, response);
        }
        catch (RpcException e) when (IsUnanswered(e, cancellationToken))
        {
            var open = _options.FallbackFor(usage.FeatureKey) == FallbackMode.FailOpen;
            return new UsageResult(open, Recorded: false, DecisionReason.Unspecified, Fallback: true, null, Cause(e));
        }
    }

    /// <summary>
    /// True when the status says the sidecar did not decide: UNAVAILABLE, DEADLINE_EXCEEDED (of our deadline, not a caller's
    /// cancellation), RESOURCE_EXHAUSTED, INTERNAL, UNKNOWN, FAILED_PRECONDITION (min_snapshot_version not reached). INVALID_ARGUMENT and the like are the caller's bugs and propagate.
    /// </summary>
    internal static bool IsUnanswered(RpcException e, CancellationToken callerToken) => e.StatusCode switch
    {
        StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.ResourceExhausted or StatusCode.Internal or StatusCode.Unknown => true,
        // min_snapshot_version not reached in time: no answer from that version, so the feature's fallback.
        StatusCode.FailedPrecondition => true,
        StatusCode.Cancelled => !callerToken.IsCancellationRequested,
        _ => false,
    };

    private CallOptions CallOptions(CancellationToken cancellationToken) =>
        new(deadline: DateTime.UtcNow + _options.Deadline, cancellationToken: cancellationToken);

    private CheckResult Fallback(string featureKey, RpcException e) =>
        new(featureKey, _options.FallbackFor(featureKey) == FallbackMode.FailOpen, DecisionReason.Unspecified, Fallback: true, null, Cause(e));

    private static string Cause(RpcException e) => $"{e.StatusCode}: {e.Status.Detail}";
}

/// <summary>Builds an <see cref="IEntitlementClient"/> without dependency injection (tools, load drivers, tests).</summary>
public static class EntitlementClientFactory
{
    /// <summary>
    /// A client on its own <see cref="GrpcChannel"/> to <see cref="EntitlementClientOptions.Address"/> (h2c over TCP for http://,
    /// over a Unix domain socket for unix:/path);
    /// dispose the returned channel when done.
    /// </summary>
    public static (IEntitlementClient Client, GrpcChannel Channel) Create(EntitlementClientOptions options)
    {
        var channel = GrpcChannel.ForAddress(SidecarTransport.ChannelAddress(options.Address), new GrpcChannelOptions
        {
            HttpHandler = SidecarTransport.Handler(options.Address),
        });
        return (new EntitlementClient(new Proto.EntitlementDecisionServiceClient(channel), Options.Create(options)), channel);
    }
}
