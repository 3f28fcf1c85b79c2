using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Redis;
using StackExchange.Redis;
using Snapshot = EntitlementDecision.Engine.Snapshots.Snapshot;
using FeatureGrant = EntitlementDecision.Engine.Snapshots.FeatureGrant;
using FeatureKind = EntitlementDecision.Engine.Catalog.FeatureKind;
using ResetPeriod = EntitlementDecision.Engine.Catalog.ResetPeriod;
using SubscriptionState = EntitlementDecision.Engine.Snapshots.SubscriptionState;

namespace EntitlementDecision.LoadTests.Scenarios;

/// <summary>gRPC method paths of entitlements.v1.EntitlementDecisionService.</summary>
public static class Methods
{
    public const string CheckEntitlement = "/entitlements.v1.EntitlementDecisionService/CheckEntitlement";
    public const string CheckEntitlements = "/entitlements.v1.EntitlementDecisionService/CheckEntitlements";
    public const string RecordUsage = "/entitlements.v1.EntitlementDecisionService/RecordUsage";
}

/// <summary>Seeds tenants straight into Redis with RedisSnapshotStore.PublishAsync (no control plane): the write and its invalidation, as the outbox does.</summary>
public sealed class Seeder(Settings settings)
{
    private ConnectionMultiplexer? _redis;

    public async Task<ConnectionMultiplexer> RedisAsync()
    {
        if (_redis is null)
        {
            var options = ConfigurationOptions.Parse(settings.Redis);
            options.AbortOnConnectFail = false;
            options.SyncTimeout = 15_000;
            _redis = await ConnectionMultiplexer.ConnectAsync(options);
        }

        return _redis;
    }

    /// <summary>A "pro"-like snapshot: boolean projects/advanced_reports, sso inactive, the given metered grants.</summary>
    public Snapshot Snapshot(string tenantId, params FeatureGrant[] metered) => new(
        tenantId,
        "production",
        settings.VersionBase,
        "pro",
        PlanSource.Subscription,
        SubscriptionState.Active,
        comped: false,
        suspended: false,
        currentPeriodEnd: DateTimeOffset.UtcNow.AddDays(30),
        generatedAt: DateTimeOffset.UtcNow,
        catalogVersion: "loadtest",
        [new FeatureGrant("projects", FeatureKind.Boolean, 0, ResetPeriod.None), new FeatureGrant("advanced_reports", FeatureKind.Boolean, 0, ResetPeriod.None), .. metered],
        ["sso"]);

    /// <summary>Publishes the snapshots with at most <paramref name="parallelism"/> outstanding scripts; returns the elapsed time.</summary>
    public async Task<TimeSpan> PublishAsync(IReadOnlyList<Snapshot> snapshots, int parallelism = 256)
    {
        var store = new RedisSnapshotStore(await RedisAsync());
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var next = -1;
        var written = 0;
        await Task.WhenAll(Enumerable.Range(0, parallelism).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < snapshots.Count)
            {
                if (await store.PublishAsync(snapshots[i]))
                {
                    Interlocked.Increment(ref written);
                }
            }
        }));
        if (written != snapshots.Count)
        {
            throw new InvalidOperationException($"seeding wrote {written} of {snapshots.Count} snapshots (an older run's higher versions?)");
        }

        return System.Diagnostics.Stopwatch.GetElapsedTime(started);
    }

    public static CheckEntitlementRequest Check(string tenant, string feature, long quantity = 0) =>
        new() { TenantId = tenant, Environment = "production", FeatureKey = feature, RequestedQuantity = quantity };
}
