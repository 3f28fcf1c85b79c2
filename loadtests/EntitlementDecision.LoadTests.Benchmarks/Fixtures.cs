using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.LoadTests.Benchmarks;

/// <summary>Snapshots and fakes shared by the benchmarks: a "pro"-like tenant with boolean and metered features.</summary>
internal static class Fixtures
{
    public static Snapshot ProSnapshot(string tenantId = "bench-tenant", string environment = "production") => new(
        tenantId,
        environment,
        version: 7,
        planId: "pro",
        PlanSource.Subscription,
        SubscriptionState.Active,
        comped: false,
        suspended: false,
        currentPeriodEnd: DateTimeOffset.UtcNow.AddDays(20),
        generatedAt: DateTimeOffset.UtcNow,
        catalogVersion: "2026-11-21.1",
        [
            new FeatureGrant("projects", FeatureKind.Boolean, 0, ResetPeriod.None),
            new FeatureGrant("advanced_reports", FeatureKind.Boolean, 0, ResetPeriod.None),
            new FeatureGrant("api_calls", FeatureKind.Metered, 100_000, ResetPeriod.Month),
            new FeatureGrant("exports", FeatureKind.Metered, 50, ResetPeriod.Day),
        ],
        ["sso"]);
}

/// <summary>A snapshot source that answers from memory (the L1 cache's inner source in the benchmarks).</summary>
internal sealed class MemorySnapshotSource(Snapshot snapshot) : ISnapshotSource
{
    public ValueTask<Snapshot?> GetAsync(TenantKey tenant, CancellationToken cancellationToken) =>
        new(tenant == snapshot.Key ? snapshot : null);
}

/// <summary>A usage counter with a constant count (no Redis).</summary>
internal sealed class ConstantUsageCounter(long used) : IUsageCounter
{
    public ValueTask<long> GetUsedAsync(TenantKey tenant, string featureKey, QuotaWindow window, CancellationToken cancellationToken) => new(used);

    public ValueTask<UsageRecordOutcome> RecordAsync(UsageRecordCommand command, CancellationToken cancellationToken) =>
        new(new UsageRecordOutcome(UsageOutcome.Accepted, used + command.Event.Quantity));
}
