using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;
using Google.Protobuf;

namespace EntitlementDecision.Redis.Tests;

public sealed class SnapshotCodecTests
{
    private static Snapshot Full(PlanSource source = PlanSource.Comped, SubscriptionState state = SubscriptionState.PastDue, DateTimeOffset? periodEnd = null) => new(
        "tenant-codec",
        "staging",
        9_007_199_254_740_993, // above 2^53: must survive as an int64
        "business",
        source,
        state,
        comped: true,
        suspended: true,
        currentPeriodEnd: periodEnd,
        generatedAt: new DateTimeOffset(2026, 11, 21, 10, 11, 12, TimeSpan.FromHours(2)).AddTicks(1234567),
        catalogVersion: "2026-11-21.1",
        features:
        [
            new FeatureGrant("projects", FeatureKind.Boolean, -1, ResetPeriod.None),
            new FeatureGrant("api_calls", FeatureKind.Metered, -1, ResetPeriod.Month),
            new FeatureGrant("exports", FeatureKind.Metered, 500, ResetPeriod.Day, false, LimitMode.Soft, "export"),
            new FeatureGrant("seats", FeatureKind.Metered, 5, ResetPeriod.BillingPeriod, true, LimitMode.ReportOnly, "seat"),
            new FeatureGrant("project_edits", FeatureKind.Boolean, -1, ResetPeriod.None, Write: true),
            new FeatureGrant("dashboards", FeatureKind.Boolean, -1, ResetPeriod.None, Degradation: Degradation.FailOpen, MaxStalenessSeconds: 0),
            new FeatureGrant("searches", FeatureKind.Metered, 9, ResetPeriod.Month, Degradation: Degradation.FailOpen, MaxStalenessSeconds: 30),
        ],
        inactiveFeatureKeys: ["sso", "advanced_reports"],
        currentPeriodStart: periodEnd?.AddMonths(-1),
        accessDeadline: periodEnd,
        graceEndsAt: periodEnd?.AddDays(3),
        suspendAt: periodEnd?.AddDays(14));

    private static void AssertSame(Snapshot expected, Snapshot actual)
    {
        Assert.Equal(expected.TenantId, actual.TenantId);
        Assert.Equal(expected.Environment, actual.Environment);
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(expected.PlanId, actual.PlanId);
        Assert.Equal(expected.PlanSource, actual.PlanSource);
        Assert.Equal(expected.SubscriptionState, actual.SubscriptionState);
        Assert.Equal(expected.Comped, actual.Comped);
        Assert.Equal(expected.Suspended, actual.Suspended);
        Assert.Equal(expected.CurrentPeriodEnd, actual.CurrentPeriodEnd);
        Assert.Equal(expected.GeneratedAt, actual.GeneratedAt);
        Assert.Equal(expected.CatalogVersion, actual.CatalogVersion);
        Assert.Equal(expected.Features.Values.OrderBy(f => f.FeatureKey, StringComparer.Ordinal), actual.Features.Values.OrderBy(f => f.FeatureKey, StringComparer.Ordinal));
        Assert.Equal(expected.InactiveFeatureKeys.Order(StringComparer.Ordinal), actual.InactiveFeatureKeys.Order(StringComparer.Ordinal));
        Assert.Equal(expected.CurrentPeriodStart, actual.CurrentPeriodStart);
        Assert.Equal(expected.AccessDeadline, actual.AccessDeadline);
        Assert.Equal(expected.GraceEndsAt, actual.GraceEndsAt);
        Assert.Equal(expected.SuspendAt, actual.SuspendAt);
    }

    [Fact]
    public void GrantWithoutMaxStaleness_DecodesToTheDefault_FailClosed()
    {
        var proto = new EntitlementDecision.Contracts.V1.TenantSnapshot { TenantId = "t", Environment = "production", Version = 1, PlanId = "free" };
        proto.Features.Add(new EntitlementDecision.Contracts.V1.FeatureGrant { FeatureKey = "projects", Kind = EntitlementDecision.Contracts.V1.FeatureKind.Boolean, Limit = -1 });

        var grant = SnapshotCodec.FromProto(proto).Features["projects"];

        Assert.Equal((Degradation.FailClosed, 900L), (grant.Degradation, grant.MaxStalenessSeconds));
    }

    [Fact]
    public void DunningScheduleBeforeTheEpoch_EncodesAsStillInThePast()
    {
        var original = new Snapshot("t", "production", 1, "pro", PlanSource.Subscription, SubscriptionState.Unpaid, false, false, null,
            DateTimeOffset.UnixEpoch, "c", [], [], graceEndsAt: DateTimeOffset.MinValue.AddDays(3), suspendAt: DateTimeOffset.MinValue.AddDays(14));

        var decoded = SnapshotCodec.Decode(SnapshotCodec.Encode(original));

        Assert.Equal(AccessMode.Suspended, decoded.AccessAt(new DateTimeOffset(2026, 11, 21, 0, 0, 0, TimeSpan.Zero)).Mode);
    }

    [Fact]
    public void RoundTrip_EveryFieldSurvives()
    {
        var original = Full(periodEnd: new DateTimeOffset(2026, 12, 21, 0, 0, 0, TimeSpan.Zero).AddTicks(1));

        AssertSame(original, SnapshotCodec.Decode(SnapshotCodec.Encode(original)));
    }

    [Fact]
    public void RoundTripWithoutPeriodEnd_PeriodEndStaysNull()
    {
        var original = Full(periodEnd: null);

        var decoded = SnapshotCodec.Decode(SnapshotCodec.Encode(original));

        Assert.Null(decoded.CurrentPeriodEnd);
        AssertSame(original, decoded);
    }

    [Theory]
    [InlineData(PlanSource.Baseline, SubscriptionState.None)]
    [InlineData(PlanSource.Subscription, SubscriptionState.Active)]
    [InlineData(PlanSource.Subscription, SubscriptionState.Trialing)]
    [InlineData(PlanSource.Comped, SubscriptionState.Inactive)]
    [InlineData(PlanSource.Override, SubscriptionState.PastDue)]
    [InlineData(PlanSource.Subscription, SubscriptionState.Unpaid)]
    [InlineData(PlanSource.Baseline, SubscriptionState.Canceled)]
    [InlineData(PlanSource.Baseline, SubscriptionState.Incomplete)]
    [InlineData(PlanSource.Baseline, SubscriptionState.IncompleteExpired)]
    [InlineData(PlanSource.Baseline, SubscriptionState.Paused)]
    public void RoundTripEnums_EachValueSurvives(PlanSource source, SubscriptionState state)
    {
        var decoded = SnapshotCodec.Decode(SnapshotCodec.Encode(Full(source, state)));

        Assert.Equal(source, decoded.PlanSource);
        Assert.Equal(state, decoded.SubscriptionState);
    }

    [Fact]
    public void EmptyMessage_DecodesToDefaults()
    {
        var decoded = SnapshotCodec.Decode([]);

        Assert.Equal(PlanSource.Baseline, decoded.PlanSource);
        Assert.Equal(SubscriptionState.None, decoded.SubscriptionState);
        Assert.Equal(DateTimeOffset.UnixEpoch, decoded.GeneratedAt);
        Assert.Empty(decoded.Features);
    }

    [Fact]
    public void GarbageBytes_InvalidProtocolBufferException()
    {
        Assert.ThrowsAny<InvalidProtocolBufferException>(() => SnapshotCodec.Decode([0xFF, 0xFF, 0xFF, 0xFF]));
    }
}
