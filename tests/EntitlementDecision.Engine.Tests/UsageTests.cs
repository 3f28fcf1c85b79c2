using System.Globalization;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Engine.Usage;

namespace EntitlementDecision.Engine.Tests;

/// <summary>Billing-period windows, the limit-mode arithmetic and the usage event schema's rules.</summary>
public sealed class UsageTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);

    private static DateTimeOffset T(string s) => DateTimeOffset.Parse(s, CultureInfo.InvariantCulture);

    private static DateTimeOffset? TN(string? s) => s is null ? null : T(s);

    [Theory]
    // Inside the stored period: exactly it, even when it is not a calendar month long (a first period after a trial).
    [InlineData("2026-11-21T12:00:00Z", "2026-11-05T09:30:00Z", "2026-12-05T09:30:00Z", "2026-11-05T09:30:00Z", "2026-12-05T09:30:00Z", "b20261105093000")]
    [InlineData("2026-11-21T12:00:00Z", "2026-11-19T00:00:00Z", "2026-12-05T09:30:00Z", "2026-11-19T00:00:00Z", "2026-12-05T09:30:00Z", "b20261119000000")]
    // The end is exclusive: its first instant is the next period.
    [InlineData("2026-12-05T09:30:00Z", "2026-11-05T09:30:00Z", "2026-12-05T09:30:00Z", "2026-12-05T09:30:00Z", "2027-01-05T09:30:00Z", "b20261205093000")]
    // Past the stored end (the webhook of the renewal not yet applied): roll forward monthly from the end.
    [InlineData("2027-03-04T00:00:00Z", "2026-11-05T09:30:00Z", "2026-12-05T09:30:00Z", "2027-02-05T09:30:00Z", "2027-03-05T09:30:00Z", "b20270205093000")]
    // Before the stored start (a late event): roll backward monthly from the start.
    [InlineData("2026-09-30T00:00:00Z", "2026-11-05T09:30:00Z", "2026-12-05T09:30:00Z", "2026-09-05T09:30:00Z", "2026-10-05T09:30:00Z", "b20260905093000")]
    // Day 31 anchors clamp to the month's end, as Stripe's billing cycle does, and the windows stay contiguous.
    [InlineData("2027-02-27T12:00:00Z", "2026-12-31T00:00:00Z", "2027-01-31T00:00:00Z", "2027-01-31T00:00:00Z", "2027-02-28T00:00:00Z", "b20270131000000")]
    [InlineData("2027-03-01T12:00:00Z", "2026-12-31T00:00:00Z", "2027-01-31T00:00:00Z", "2027-02-28T00:00:00Z", "2027-03-31T00:00:00Z", "b20270228000000")]
    // Only the end known (older snapshots): monthly periods ending on it.
    [InlineData("2026-11-21T12:00:00Z", null, "2026-12-05T09:30:00Z", "2026-11-05T09:30:00Z", "2026-12-05T09:30:00Z", "b20261105093000")]
    // No subscription period: the calendar month, keyed as a billing period.
    [InlineData("2026-11-21T12:00:00Z", null, null, "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "b20261101000000")]
    // Non-UTC input: the same UTC window.
    [InlineData("2026-12-05T10:00:00+01:00", "2026-11-05T09:30:00Z", "2026-12-05T09:30:00Z", "2026-11-05T09:30:00Z", "2026-12-05T09:30:00Z", "b20261105093000")]
    public void BillingPeriodWindow(string at, string? periodStart, string? periodEnd, string start, string end, string key)
    {
        var window = QuotaWindow.For(ResetPeriod.BillingPeriod, T(at), TN(periodStart), TN(periodEnd));

        Assert.Equal((T(start), T(end), key), (window.Start, window.End, window.Key));
        Assert.Equal(TimeSpan.Zero, window.Start.Offset);
        Assert.True(window.Start <= T(at) && T(at) < window.End);
    }

    [Fact]
    public void BillingPeriodWithoutPeriods_TwoArgumentOverloadThrows()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => QuotaWindow.For(ResetPeriod.BillingPeriod, Now));
    }

    [Fact]
    public void DayAndMonthWindows_IgnoreTheSubscriptionPeriod()
    {
        var start = T("2026-11-05T09:30:00Z");
        var end = T("2026-12-05T09:30:00Z");

        Assert.Equal("m202611", QuotaWindow.For(ResetPeriod.Month, Now, start, end).Key);
        Assert.Equal("d20261121", QuotaWindow.For(ResetPeriod.Day, Now, start, end).Key);
    }

    [Theory]
    // mode, limit, used, quantity → allowed, over limit, overage
    [InlineData(LimitMode.Hard, 10, 4, 6, true, false, 0)]
    [InlineData(LimitMode.Hard, 10, 4, 7, false, true, 1)]
    [InlineData(LimitMode.Hard, 10, 10, 0, true, false, 0)]
    [InlineData(LimitMode.Hard, 10, 12, 0, true, true, 0)] // quantity 0 asks only whether the feature is granted (limit lowered under the count)
    [InlineData(LimitMode.Hard, 0, 0, 1, false, true, 1)]
    [InlineData(LimitMode.Hard, -1, 1_000_000, 5, true, false, 0)]
    [InlineData(LimitMode.Soft, 10, 4, 6, true, false, 0)]
    [InlineData(LimitMode.Soft, 10, 4, 7, true, true, 1)]
    [InlineData(LimitMode.Soft, 10, 12, 3, true, true, 3)] // already over: every new unit is overage, none counted twice
    [InlineData(LimitMode.ReportOnly, 10, 4, 7, true, true, 1)]
    [InlineData(LimitMode.ReportOnly, 0, 0, 5, true, true, 5)]
    [InlineData(LimitMode.ReportOnly, -1, 0, 5, true, false, 0)]
    [InlineData(LimitMode.Hard, 10, 4, long.MaxValue, false, true, long.MaxValue - 6)] // no overflow
    [InlineData(LimitMode.Soft, 10, long.MaxValue / 2, long.MaxValue, true, true, long.MaxValue)]
    public void LimitCheck_PerMode(LimitMode mode, long limit, long used, long quantity, bool allowed, bool over, long overage)
    {
        Assert.Equal(new LimitCheck(allowed, over, overage), UsageLimits.Check(mode, limit, used, quantity));
    }

    private static UsageEvent Valid() => new("acme", "staging", "api_calls", 3, "evt-1", Now, "api-gateway", "call", "req-1",
        "4bf92f3577b34da6a3ce929d0e0e4736", "sha256:" + new string('0', 63) + "f");

    [Fact]
    public void ValidEvent_NoErrorAndKeptAsIs()
    {
        Assert.Null(UsageEventValidation.Validate(Valid(), Now, TimeSpan.FromMinutes(5), out var normalized));
        Assert.Equal(Valid(), normalized);
    }

    [Fact]
    public void EmptyOptionalFields_Normalized()
    {
        var usage = new UsageEvent("acme", "", "api_calls", 1, "evt-1");

        Assert.Null(UsageEventValidation.Validate(usage, Now, TimeSpan.FromMinutes(5), out var normalized));
        Assert.Equal(("production", "unknown", (DateTimeOffset?)Now), (normalized.Environment, normalized.Service, normalized.Timestamp));
        Assert.Equal(("", "", "", ""), (normalized.Unit, normalized.RequestId, normalized.TraceId, normalized.SourceDigest));
    }

    public static TheoryData<string, Func<UsageEvent, UsageEvent>> InvalidEvents => new()
    {
        { "tenant_id", e => e with { TenantId = "" } },
        { "tenant_id", e => e with { TenantId = "a:b" } },
        { "environment", e => e with { Environment = new string('e', 65) } },
        { "feature_key", e => e with { FeatureKey = "api calls" } },
        { "event_id", e => e with { EventId = "" } },
        { "event_id", e => e with { EventId = new string('x', 129) } },
        { "event_id", e => e with { EventId = "evt 1" } },
        { "quantity", e => e with { Quantity = 0 } },
        { "quantity", e => e with { Quantity = -5 } },
        { "quantity", e => e with { Quantity = UsageEventValidation.MaxQuantity + 1 } },
        { "service", e => e with { Service = "api|gateway" } },
        { "unit", e => e with { Unit = "calls per second" } },
        { "request_id", e => e with { RequestId = new string('r', 129) } },
        { "request_id", e => e with { RequestId = "req\n1" } },
        { "trace_id", e => e with { TraceId = "4BF92F3577B34DA6A3CE929D0E0E4736" } },
        { "trace_id", e => e with { TraceId = "4bf92f3577b34da6a3ce929d0e0e473" } },
        { "trace_id", e => e with { TraceId = new string('0', 32) } },
        { "source_digest", e => e with { SourceDigest = new string('a', 64) } },
        { "source_digest", e => e with { SourceDigest = "sha256:" + new string('g', 64) } },
        { "source_digest", e => e with { SourceDigest = "md5:" + new string('a', 32) } },
        { "timestamp", e => e with { Timestamp = Now + TimeSpan.FromMinutes(5) + TimeSpan.FromTicks(1) } },
    };

    [Theory]
    [MemberData(nameof(InvalidEvents))]
    public void InvalidEvent_ErrorNamesTheField(string field, Func<UsageEvent, UsageEvent> breakIt)
    {
        var error = UsageEventValidation.Validate(breakIt(Valid()), Now, TimeSpan.FromMinutes(5), out _);

        Assert.NotNull(error);
        Assert.Equal(field, error.Field);
        Assert.StartsWith(field, error.Message);
    }

    [Fact]
    public void TimestampAtMaxSkewOrUpToMaxAgeInThePast_Valid()
    {
        Assert.Null(UsageEventValidation.Validate(Valid() with { Timestamp = Now + TimeSpan.FromMinutes(5) }, Now, TimeSpan.FromMinutes(5), out _));
        Assert.Null(UsageEventValidation.Validate(Valid() with { Timestamp = Now - UsageEventValidation.MaxAge }, Now, TimeSpan.FromMinutes(5), out _));
    }

    [Theory]
    [InlineData(35 * 24 * 3600 + 1)]
    [InlineData(60 * 24 * 3600)]
    public void TimestampOlderThanMaxAge_InvalidTimestamp(long secondsAgo)
    {
        var error = UsageEventValidation.Validate(Valid() with { Timestamp = Now.AddSeconds(-secondsAgo) }, Now, TimeSpan.FromMinutes(5), out _);

        Assert.Equal("timestamp", error?.Field);
        Assert.Contains("35 days in the past", error!.Message, StringComparison.Ordinal);
    }
}
