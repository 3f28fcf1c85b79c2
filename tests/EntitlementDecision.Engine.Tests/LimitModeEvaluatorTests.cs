using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Decisions;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.Engine.Tests;

/// <summary>CheckEntitlement with requested_quantity per limit mode: would it fit, without counting it.</summary>
public sealed class LimitModeEvaluatorTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);

    private static Snapshot Create(LimitMode mode, long limit, ResetPeriod period = ResetPeriod.Month, DateTimeOffset? periodStart = null, DateTimeOffset? periodEnd = null) =>
        SnapshotBuilder.For().WithVersion(4).WithGeneratedAt(Now).WithPeriod(periodStart, periodEnd).WithMetered("meter", limit, period, mode, "unit").Build();

    [Theory]
    // mode, used, requested → allowed, reason, over limit, overage, remaining (limit 10)
    [InlineData(LimitMode.Hard, 4, 6, true, DecisionReason.Granted, false, 0, 6)]
    [InlineData(LimitMode.Hard, 4, 7, false, DecisionReason.LimitExceeded, true, 1, 6)]
    [InlineData(LimitMode.Hard, 10, 0, true, DecisionReason.Granted, false, 0, 0)]
    [InlineData(LimitMode.Soft, 4, 6, true, DecisionReason.Granted, false, 0, 6)]
    [InlineData(LimitMode.Soft, 4, 7, true, DecisionReason.Granted, true, 1, 6)]
    [InlineData(LimitMode.Soft, 15, 2, true, DecisionReason.Granted, true, 2, 0)]
    [InlineData(LimitMode.Soft, 15, 0, true, DecisionReason.Granted, true, 0, 0)]
    [InlineData(LimitMode.ReportOnly, 4, 100, true, DecisionReason.Granted, true, 94, 6)]
    [InlineData(LimitMode.ReportOnly, 0, 10, true, DecisionReason.Granted, false, 0, 10)]
    public void MeteredCheck_PerLimitMode(LimitMode mode, long used, long requested, bool allowed, DecisionReason reason, bool over, long overage, long remaining)
    {
        var d = Evaluator.Evaluate(Create(mode, 10), "meter", requested, used, Now);

        Assert.Equal((allowed, reason, over, overage, remaining), (d.Allowed, d.Reason, d.OverLimit, d.Overage, d.Remaining));
        Assert.Equal((true, mode, 10L, used), (d.Metered, d.LimitMode, d.Limit, d.Used));
    }

    [Theory]
    [InlineData(LimitMode.Hard)]
    [InlineData(LimitMode.Soft)]
    public void Unlimited_NeverOver(LimitMode mode)
    {
        var d = Evaluator.Evaluate(Create(mode, -1), "meter", 1_000_000, 5_000_000, Now);

        Assert.Equal((true, false, 0L, -1L, -1L), (d.Allowed, d.OverLimit, d.Overage, d.Limit, d.Remaining));
    }

    [Fact]
    public void BillingPeriodFeature_ResetsAtThePeriodEnd()
    {
        var d = Evaluator.Evaluate(
            Create(LimitMode.Hard, 10, ResetPeriod.BillingPeriod, new DateTimeOffset(2026, 11, 5, 9, 30, 0, TimeSpan.Zero), new DateTimeOffset(2026, 12, 5, 9, 30, 0, TimeSpan.Zero)),
            "meter",
            1,
            0,
            Now);

        Assert.Equal(new DateTimeOffset(2026, 12, 5, 9, 30, 0, TimeSpan.Zero), d.ResetsAt);
    }

    [Fact]
    public void BillingPeriodFeatureWithoutSubscription_ResetsAtTheMonthEnd()
    {
        var d = Evaluator.Evaluate(Create(LimitMode.Hard, 10, ResetPeriod.BillingPeriod), "meter", 1, 0, Now);

        Assert.Equal(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero), d.ResetsAt);
    }
}
