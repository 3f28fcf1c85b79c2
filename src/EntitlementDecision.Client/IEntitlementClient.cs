using EntitlementDecision.Contracts.V1;

namespace EntitlementDecision.Client;

/// <summary>
/// The product service's view of the sidecar (entitlements.v1.EntitlementDecisionService). Denials are answers, not exceptions.
/// Bad arguments throw <see cref="Grpc.Core.RpcException"/> with INVALID_ARGUMENT (a bug in the caller, never degraded);
/// when the sidecar cannot answer (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, INTERNAL, UNKNOWN) the answer is the
/// feature's fallback, flagged <c>Fallback = true</c>.
/// </summary>
public interface IEntitlementClient
{
    /// <summary>
    /// May <paramref name="tenantId"/> use <paramref name="featureKey"/> (and <paramref name="requestedQuantity"/> more units of its
    /// meter, >= 0)? <paramref name="environment"/> null: the configured one.
    /// </summary>
    Task<CheckResult> CheckAsync(string tenantId, string featureKey, long requestedQuantity = 0, string? environment = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// One check with every option, e.g. <see cref="EntitlementCheck.MinSnapshotVersion"/> to read a change the control plane just
    /// answered (its snapshot_version). A version the sidecar cannot reach in time (FAILED_PRECONDITION) gets the feature's fallback.
    /// </summary>
    Task<CheckResult> CheckAsync(EntitlementCheck check, CancellationToken cancellationToken = default);

    /// <summary>1..100 checks in one call, answered in order. On a fallback each check gets its feature's fallback.</summary>
    Task<IReadOnlyList<CheckResult>> CheckManyAsync(IReadOnlyList<EntitlementCheck> checks, CancellationToken cancellationToken = default);

    /// <summary>
    /// Records usage (see RecordUsageRequest: quantity > 0 units of the feature's meter, event_id the idempotency key).
    /// An empty environment is filled in from the options.
    /// </summary>
    Task<UsageResult> RecordUsageAsync(RecordUsageRequest usage, CancellationToken cancellationToken = default);
}
