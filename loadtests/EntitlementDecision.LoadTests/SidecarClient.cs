using EntitlementDecision.Client;
using EntitlementDecision.Contracts.V1;
using Grpc.Net.Client;

namespace EntitlementDecision.LoadTests;

/// <summary>
/// One gRPC channel to the sidecar with the client SDK on it, answering the proto responses the scenarios check. A fallback (the
/// sidecar did not answer) is thrown, so the runner counts it as a failed call (grpc_Unavailable, grpc_DeadlineExceeded ...).
/// </summary>
public sealed class SidecarClient
{
    private readonly IEntitlementClient _client;
    private readonly GrpcChannel _channel;

    public SidecarClient(Uri sidecar) =>
        (_client, _channel) = EntitlementClientFactory.Create(new EntitlementClientOptions { Address = sidecar, Deadline = TimeSpan.FromSeconds(10) });

    public async Task<CheckEntitlementResponse> CheckAsync(CheckEntitlementRequest request)
    {
        var result = await _client.CheckAsync(request.TenantId, request.FeatureKey, request.RequestedQuantity, request.Environment).ConfigureAwait(false);
        return result.Response ?? throw new InvalidOperationException($"fallback: {result.FallbackCause}");
    }

    public async Task<CheckEntitlementsResponse> CheckManyAsync(CheckEntitlementsRequest request)
    {
        var results = await _client.CheckManyAsync([.. request.Checks.Select(c => new EntitlementCheck(c.TenantId, c.FeatureKey, c.RequestedQuantity, c.Environment))]).ConfigureAwait(false);
        var response = new CheckEntitlementsResponse();
        foreach (var r in results)
        {
            response.Results.Add(r.Response ?? throw new InvalidOperationException($"fallback: {r.FallbackCause}"));
        }

        return response;
    }

    public async Task<RecordUsageResponse> RecordUsageAsync(RecordUsageRequest request)
    {
        var result = await _client.RecordUsageAsync(request).ConfigureAwait(false);
        return result.Response ?? throw new InvalidOperationException($"fallback: {result.FallbackCause}");
    }
}
