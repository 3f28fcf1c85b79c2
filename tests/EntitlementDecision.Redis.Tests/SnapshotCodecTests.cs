using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;
using Google.Protobuf;

namespace EntitlementDecision.Redis.Tests;

public sealed class SnapshotCodecTests
{
    private static Snapshot Full(PlanSource source = PlanSource.Comped, SubscriptionState state = SubscriptionState.PastDue, DateTimeOffset? periodEnd = null) =>
        SnapshotBuilder.For("tenant-codec")
            .WithEnvironment("staging")
            .WithVersion(9_007_199_254_740_993) // above 2^53: must survive as an int64
            .WithPlan("business", source)
            .WithState(state)
            .WithComped()
            .WithSuspended()
            .WithPeriod(periodEnd?.AddMonths(-1), periodEnd)
            .WithGeneratedAt(new DateTimeOffset(2026, 11, 21, 10, 11, 12, TimeSpan.FromHours(2)).AddTicks(1234567))
            .WithCatalogVersion("2026-11-21.1")
            .WithBoolean("projects")
            .WithMetered("api_calls", -1, ResetPeriod.Month)
            .WithMetered("exports", 500, ResetPeriod.Day, LimitMode.Soft, "export")
            .WithMetered("seats", 5, ResetPeriod.BillingPeriod, LimitMode.ReportOnly, "seat", write: true)
            .WithBoolean("project_edits", write: true)
            .WithBoolean("dashboards", degradation: Degradation.FailOpen, maxStalenessSeconds: 0)
            .WithMetered("searches", 9, ResetPeriod.Month, degradation: Degradation.FailOpen, maxStalenessSeconds: 30)
            .WithInactive("sso", "advanced_reports")
            .WithAccessDeadline(periodEnd)
            .WithDunning(periodEnd?.AddDays(3), periodEnd?.AddDays(14))
            .Build();

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
        var original = SnapshotBuilder.For("t")
            .WithState(SubscriptionState.Unpaid)
            .WithGeneratedAt(DateTimeOffset.UnixEpoch)
            .WithCatalogVersion("c")
            .WithDunning(DateTimeOffset.MinValue.AddDays(3), DateTimeOffset.MinValue.AddDays(14))
            .Build();

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
