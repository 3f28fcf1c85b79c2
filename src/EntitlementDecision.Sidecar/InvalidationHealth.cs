using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace EntitlementDecision.Sidecar;

/// <summary>
/// Whether the invalidation subscription is live: false until the first subscribe succeeds and while the subscription's connection
/// is down (invalidations published meanwhile are lost). grpc.health.v1 answers NOT_SERVING while false (Check and Watch).
/// </summary>
internal sealed class InvalidationHealth : IHealthCheck
{
    private volatile bool _live;

    public bool IsLive => _live;

    public void SetLive(bool live) => _live = live;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(_live
            ? HealthCheckResult.Healthy("invalidation subscription live")
            : HealthCheckResult.Unhealthy("invalidation subscription not live: snapshots may be stale"));
}
