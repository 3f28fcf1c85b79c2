using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.Redis.Tests;

public sealed class RedisUsageCounterTests
{
    private static readonly QuotaWindow Month = QuotaWindow.For(ResetPeriod.Month, new DateTimeOffset(2026, 11, 21, 12, 0, 0, TimeSpan.Zero));
    private static readonly QuotaWindow NextMonth = QuotaWindow.For(ResetPeriod.Month, new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly RedisUsageCounter _counter = new(TestRedis.Connection);

    private ValueTask<UsageRecordOutcome> Record(string tenant, long quantity, long limit, string eventId, QuotaWindow? window = null, string feature = "api_calls") =>
        _counter.RecordAsync(tenant, "production", feature, window ?? Month, quantity, limit, eventId, TestContext.Current.CancellationToken);

    private ValueTask<long> Used(string tenant, QuotaWindow? window = null, string feature = "api_calls") =>
        _counter.GetUsedAsync(tenant, "production", feature, window ?? Month, TestContext.Current.CancellationToken);

    [Fact]
    public async Task NothingRecorded_UsedIsZero()
    {
        Assert.Equal(0, await Used(TestRedis.NewTenant()));
    }

    [Fact]
    public async Task RecordWithinLimit_CountedAndUsedMatches()
    {
        var tenant = TestRedis.NewTenant();

        Assert.Equal(new UsageRecordOutcome(true, false, false, 3), await Record(tenant, 3, 10, "e1"));
        Assert.Equal(new UsageRecordOutcome(true, false, false, 10), await Record(tenant, 7, 10, "e2"));
        Assert.Equal(10, await Used(tenant));
    }

    [Fact]
    public async Task DuplicateEventId_CountedOnce()
    {
        var tenant = TestRedis.NewTenant();

        Assert.Equal(new UsageRecordOutcome(true, false, false, 4), await Record(tenant, 4, 10, "evt-dup"));
        Assert.Equal(new UsageRecordOutcome(true, true, false, 4), await Record(tenant, 4, 10, "evt-dup"));
        Assert.Equal(4, await Used(tenant));
    }

    [Fact]
    public async Task DuplicateEventIdOnAnotherFeature_StillDuplicate()
    {
        // The idempotency key is (environment, tenant, event id): an event id counts once per tenant, whatever the feature.
        var tenant = TestRedis.NewTenant();

        await Record(tenant, 1, 10, "shared-id", feature: "api_calls");
        var second = await Record(tenant, 1, 10, "shared-id", feature: "exports");

        Assert.True(second.Duplicate);
        Assert.Equal(0, await Used(tenant, feature: "exports"));
    }

    [Fact]
    public async Task LimitExceeded_NothingCountedAndEventIdNotRemembered()
    {
        // Documented behaviour (IUsageCounter.RecordAsync): a rejected event is not remembered, so a retry with the
        // same event id is counted when it fits (here: a smaller quantity, and in the next window).
        var tenant = TestRedis.NewTenant();
        await Record(tenant, 3, 5, "e1");

        Assert.Equal(new UsageRecordOutcome(false, false, true, 3), await Record(tenant, 3, 5, "e2"));
        Assert.Equal(3, await Used(tenant));

        Assert.Equal(new UsageRecordOutcome(true, false, false, 5), await Record(tenant, 2, 5, "e2"));
        Assert.Equal(5, await Used(tenant));
    }

    [Fact]
    public async Task LimitExceededThenNextWindow_RetryCountsInNewWindow()
    {
        var tenant = TestRedis.NewTenant();
        await Record(tenant, 5, 5, "fill");
        Assert.True((await Record(tenant, 1, 5, "late")).LimitExceeded);

        Assert.Equal(new UsageRecordOutcome(true, false, false, 1), await Record(tenant, 1, 5, "late", NextMonth));
        Assert.Equal(5, await Used(tenant));
        Assert.Equal(1, await Used(tenant, NextMonth));
    }

    [Fact]
    public async Task ZeroLimit_EverythingExceeded()
    {
        var tenant = TestRedis.NewTenant();

        Assert.True((await Record(tenant, 1, 0, "e1")).LimitExceeded);
        Assert.Equal(0, await Used(tenant));
    }

    [Fact]
    public async Task Unlimited_AlwaysCounted()
    {
        var tenant = TestRedis.NewTenant();

        Assert.Equal(new UsageRecordOutcome(true, false, false, 1_000_000), await Record(tenant, 1_000_000, -1, "big"));
        Assert.Equal(new UsageRecordOutcome(true, false, false, 1_000_001), await Record(tenant, 1, -1, "one"));
        Assert.Equal(1_000_001, await Used(tenant));
    }

    [Fact]
    public async Task WindowsAndTenants_CountSeparately()
    {
        var tenant = TestRedis.NewTenant();
        var other = TestRedis.NewTenant();

        await Record(tenant, 2, 10, "a");
        await Record(tenant, 3, 10, "b", NextMonth);
        await Record(other, 7, 10, "a");

        Assert.Equal(2, await Used(tenant));
        Assert.Equal(3, await Used(tenant, NextMonth));
        Assert.Equal(7, await Used(other));
    }

    [Fact]
    public async Task ParallelRecordsAgainstLimit_ExactlyLimitAccepted()
    {
        var tenant = TestRedis.NewTenant();

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Record(tenant, 1, 50, $"evt-{i}").AsTask()));

        Assert.Equal(50, outcomes.Count(o => o.Accepted));
        Assert.Equal(150, outcomes.Count(o => o.LimitExceeded));
        Assert.DoesNotContain(outcomes, o => o.Duplicate);
        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), outcomes.Where(o => o.Accepted).Select(o => o.Used).Order());
        Assert.Equal(50, await Used(tenant));
    }
}
