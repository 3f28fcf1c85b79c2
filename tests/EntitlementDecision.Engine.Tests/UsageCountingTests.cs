using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Engine.Usage;

namespace EntitlementDecision.Engine.Tests;

/// <summary>The pure counting rules; how a counter applies them is UsageCounterContract (Redis.Tests).</summary>
public sealed class UsageCountingTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void CounterLifetime_UntilRetentionAfterTheWindowEnds_FromReceipt()
    {
        var month = QuotaWindow.For(ResetPeriod.Month, At);

        Assert.Equal(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero) + TimeSpan.FromDays(35) - At, UsageCounting.CounterLifetime(month, At));
    }

    [Fact]
    public void CounterLifetime_WindowLongGone_AtLeastTheMinimum()
    {
        var oldDay = QuotaWindow.For(ResetPeriod.Day, At - TimeSpan.FromDays(40));

        Assert.Equal(UsageCounting.MinCounterTtl, UsageCounting.CounterLifetime(oldDay, At));
    }

    [Theory]
    [InlineData(true, true, true, UsageOutcome.Duplicate)]
    [InlineData(false, true, true, UsageOutcome.RejectedUndeclared)]
    [InlineData(false, true, false, UsageOutcome.LimitExceeded)]
    [InlineData(false, false, true, UsageOutcome.LimitExceeded)]
    public void Decide_DedupeThenCoverageThenLimit(bool duplicate, bool undeclared, bool reject, UsageOutcome expected)
    {
        // The window is full under a hard limit, so only the order decides which refusal wins.
        Assert.Equal((expected, 0L), UsageCounting.Decide(duplicate, undeclared, reject, LimitMode.Hard, 10, 10, 1));
    }

    [Theory]
    [InlineData(LimitMode.Soft, 3L)]
    [InlineData(LimitMode.ReportOnly, 0L)]
    public void Decide_OverANonHardLimit_AcceptedOverageOnlyWhenSoft(LimitMode mode, long overage)
    {
        Assert.Equal((UsageOutcome.Accepted, overage), UsageCounting.Decide(false, false, false, mode, 10, 8, 5));
    }

    [Fact]
    public void WouldPassMaxCount_AtTheCeilingNot_PastItYes()
    {
        Assert.False(UsageCounting.WouldPassMaxCount(UsageCounting.MaxCount - 2, 2));
        Assert.True(UsageCounting.WouldPassMaxCount(UsageCounting.MaxCount - 2, 3));
        Assert.True(UsageCounting.WouldPassMaxCount(UsageCounting.MaxCount, 1_000_000_000_000));
    }

    [Theory]
    [InlineData(LimitMode.Hard, "hard")]
    [InlineData(LimitMode.Soft, "soft")]
    [InlineData(LimitMode.ReportOnly, "report_only")]
    public void LimitModeName_TheStreamsNames(LimitMode mode, string name) => Assert.Equal(name, UsageCounting.LimitModeName(mode));
}
