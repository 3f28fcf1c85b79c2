using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.Engine.Tests;

/// <summary>Builds snapshots for evaluator tests: every test gets its own instance.</summary>
internal static class TestSnapshots
{
    public const string BooleanFeature = "projects";
    public const string MonthMetered = "api_calls";
    public const string DayMetered = "exports";
    public const string UnlimitedMetered = "events";
    public const string InactiveFeature = "sso";
    public const string WriteFeature = "project_edits";
    public const long MonthLimit = 10;
    public const long DayLimit = 3;

    public static Snapshot Create(
        bool suspended = false, long version = 7, string tenantId = "t-1", DateTimeOffset? graceEndsAt = null, DateTimeOffset? suspendAt = null) => new(
        tenantId,
        "production",
        version,
        "pro",
        PlanSource.Subscription,
        SubscriptionState.Active,
        comped: false,
        suspended: suspended,
        currentPeriodEnd: null,
        generatedAt: new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero),
        catalogVersion: "test.1",
        features:
        [
            new FeatureGrant(BooleanFeature, FeatureKind.Boolean, -1, ResetPeriod.None),
            new FeatureGrant(MonthMetered, FeatureKind.Metered, MonthLimit, ResetPeriod.Month),
            new FeatureGrant(DayMetered, FeatureKind.Metered, DayLimit, ResetPeriod.Day),
            new FeatureGrant(UnlimitedMetered, FeatureKind.Metered, -1, ResetPeriod.Month),
            new FeatureGrant(WriteFeature, FeatureKind.Boolean, -1, ResetPeriod.None, Write: true),
        ],
        inactiveFeatureKeys: [InactiveFeature],
        graceEndsAt: graceEndsAt,
        suspendAt: suspendAt);
}
