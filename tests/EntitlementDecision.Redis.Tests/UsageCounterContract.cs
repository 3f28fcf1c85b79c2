using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Decisions;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Engine.Usage;

namespace EntitlementDecision.Redis.Tests;

/// <summary>
/// What every <see cref="IUsageCounter"/> must do (the rules of <see cref="UsageCounting"/>): one suite, run against the Redis script
/// (<see cref="RedisUsageCounterContractTests"/>) and the sidecar tests' double (<see cref="FakeUsageCounterContractTests"/>). What only
/// Redis has (stream entries, expiries, wrong key types, batching) stays in RedisUsageCounterTests.
/// </summary>
public abstract class UsageCounterContract
{
    private static readonly DateTimeOffset At = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);
    private static readonly QuotaWindow Month = QuotaWindow.For(ResetPeriod.Month, At);
    private static readonly QuotaWindow NextMonth = QuotaWindow.For(ResetPeriod.Month, new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));

    protected abstract IUsageCounter Counter { get; }

    /// <summary>Sets a window's counter to <paramref name="used"/>, as a direct store write (or a rebuild) would.</summary>
    protected abstract Task SeedAsync(string tenant, string environment, string feature, QuotaWindow window, long used);

    /// <summary>Declares coverage: mode reject or warn, and the declared "service|feature" pairs.</summary>
    protected abstract Task DeclareAsync(bool reject, params string[] pairs);

    /// <summary>Makes the counters of <paramref name="tenant"/> be (or stop being) rebuilt after a data loss.</summary>
    protected abstract Task SetRebuildingAsync(string tenant, bool rebuilding);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static UsageRecordCommand Command(
        string tenant, long quantity, long limit, string eventId, QuotaWindow? window = null, string feature = "api_calls",
        LimitMode mode = LimitMode.Hard, string service = "api-gateway", string environment = "production") => new(
        new UsageEvent(tenant, environment, feature, quantity, eventId, At, service, "", "req-1"),
        UsageOrigin.Grpc,
        window ?? Month,
        limit,
        mode,
        "call",
        At);

    private ValueTask<UsageRecordOutcome> Record(
        string tenant, long quantity, long limit, string eventId, QuotaWindow? window = null, string feature = "api_calls",
        LimitMode mode = LimitMode.Hard, string service = "api-gateway", string environment = "production") =>
        Counter.RecordAsync(Command(tenant, quantity, limit, eventId, window, feature, mode, service, environment), Token);

    private ValueTask<long> Used(string tenant, QuotaWindow? window = null, string feature = "api_calls", string environment = "production") =>
        Counter.GetUsedAsync(new TenantKey(environment, tenant), feature, window ?? Month, Token);

    private static (UsageOutcome, long, long) Pick(UsageRecordOutcome o) => (o.Outcome, o.Used, o.Overage);

    [Fact]
    public async Task NothingRecorded_UsedIsZero()
    {
        Assert.Equal(0, await Used(TestRedis.NewTenant()));
    }

    [Fact]
    public async Task WithinHardLimit_CountedUpToTheLimitExactly()
    {
        var tenant = TestRedis.NewTenant();

        Assert.Equal((UsageOutcome.Accepted, 3L, 0L), Pick(await Record(tenant, 3, 10, "e1")));
        Assert.Equal((UsageOutcome.Accepted, 10L, 0L), Pick(await Record(tenant, 7, 10, "e2")));
        Assert.Equal(10, await Used(tenant));
    }

    [Fact]
    public async Task HardLimit_UnitsThatDoNotFit_ExceededNothingCountedEventIdNotKept()
    {
        var tenant = TestRedis.NewTenant();
        await Record(tenant, 3, 5, "e1");

        var exceeded = await Record(tenant, 3, 5, "e2");

        Assert.Equal((UsageOutcome.LimitExceeded, 3L, 0L), Pick(exceeded));
        Assert.False(exceeded.Accepted);
        Assert.Equal(3, await Used(tenant));
        // Not kept: a retry of the same event id counts when it fits.
        Assert.Equal((UsageOutcome.Accepted, 5L, 0L), Pick(await Record(tenant, 2, 5, "e2")));
    }

    [Fact]
    public async Task ZeroLimit_EverythingExceeded()
    {
        var tenant = TestRedis.NewTenant();

        Assert.Equal((UsageOutcome.LimitExceeded, 0L, 0L), Pick(await Record(tenant, 1, 0, "e1")));
        Assert.Equal(0, await Used(tenant));
    }

    [Fact]
    public async Task HardLimit_CounterAlreadyAboveIt_EvenOneUnitExceeded()
    {
        // A counter above a hard limit (the plan was downgraded mid-window): nothing more fits.
        var tenant = TestRedis.NewTenant();
        await SeedAsync(tenant, "production", "api_calls", Month, 12);

        Assert.Equal((UsageOutcome.LimitExceeded, 12L, 0L), Pick(await Record(tenant, 1, 10, "e1")));
    }

    [Fact]
    public async Task Unlimited_AlwaysCounted()
    {
        var tenant = TestRedis.NewTenant();

        Assert.Equal((UsageOutcome.Accepted, 1_000_000L, 0L), Pick(await Record(tenant, 1_000_000, -1, "big")));
        Assert.Equal((UsageOutcome.Accepted, 1_000_001L, 0L), Pick(await Record(tenant, 1, -1, "one", mode: LimitMode.Soft)));
    }

    [Fact]
    public async Task SoftLimit_AcceptsAndReportsOnlyThisEventsUnitsBeyondTheLimit()
    {
        var tenant = TestRedis.NewTenant();

        Assert.Equal((UsageOutcome.Accepted, 4L, 0L), Pick(await Record(tenant, 4, 5, "s1", mode: LimitMode.Soft)));
        Assert.Equal((UsageOutcome.Accepted, 5L, 0L), Pick(await Record(tenant, 1, 5, "s2", mode: LimitMode.Soft)));
        Assert.Equal((UsageOutcome.Accepted, 8L, 3L), Pick(await Record(tenant, 3, 5, "s3", mode: LimitMode.Soft)));
        Assert.Equal((UsageOutcome.Accepted, 10L, 2L), Pick(await Record(tenant, 2, 5, "s4", mode: LimitMode.Soft)));
        Assert.Equal(10, await Used(tenant));
    }

    [Fact]
    public async Task SoftLimit_CrossingIt_OverageIsThePartBeyond()
    {
        var tenant = TestRedis.NewTenant();
        await SeedAsync(tenant, "production", "api_calls", Month, 4);

        Assert.Equal((UsageOutcome.Accepted, 7L, 2L), Pick(await Record(tenant, 3, 5, "s1", mode: LimitMode.Soft)));
    }

    [Fact]
    public async Task SoftZeroLimit_EveryUnitIsOverage()
    {
        var tenant = TestRedis.NewTenant();

        Assert.Equal((UsageOutcome.Accepted, 4L, 4L), Pick(await Record(tenant, 4, 0, "s1", mode: LimitMode.Soft)));
    }

    [Fact]
    public async Task ReportOnly_NeverDeniesAndReportsNoOverage()
    {
        var tenant = TestRedis.NewTenant();

        Assert.Equal((UsageOutcome.Accepted, 5L, 0L), Pick(await Record(tenant, 5, 1, "r1", mode: LimitMode.ReportOnly)));
        Assert.Equal((UsageOutcome.Accepted, 10L, 0L), Pick(await Record(tenant, 5, 0, "r2", mode: LimitMode.ReportOnly)));
        Assert.Equal(10, await Used(tenant));
    }

    [Fact]
    public async Task Redelivery_CountedOnce_AnswersTheCounterNow()
    {
        var tenant = TestRedis.NewTenant();
        await Record(tenant, 4, 10, "dup");
        await Record(tenant, 2, 10, "other");

        var again = await Record(tenant, 4, 10, "dup");

        Assert.Equal((UsageOutcome.Duplicate, 6L, 0L), Pick(again));
        Assert.True(again.Accepted);
        Assert.Equal(6, await Used(tenant));
    }

    [Fact]
    public async Task Redelivery_ComesBeforeTheLimit_StillDuplicateWhenFull()
    {
        // A redelivered event that was counted is a duplicate, not a denial, even once the window is full or the mode changed.
        var tenant = TestRedis.NewTenant();
        await Record(tenant, 3, 5, "e1", mode: LimitMode.Soft);
        await Record(tenant, 4, 5, "e2", mode: LimitMode.Soft);

        Assert.Equal((UsageOutcome.Duplicate, 7L, 0L), Pick(await Record(tenant, 3, 5, "e1")));
        Assert.Equal((UsageOutcome.Duplicate, 7L, 0L), Pick(await Record(tenant, 4, 5, "e2", mode: LimitMode.Soft)));
    }

    [Fact]
    public async Task EventIdOnAnotherFeature_StillDuplicate_NothingCountedThere()
    {
        // The idempotency key is (environment, tenant, event id), whatever the feature or window.
        var tenant = TestRedis.NewTenant();
        await Record(tenant, 1, 10, "shared-id", feature: "api_calls");

        var second = await Record(tenant, 1, 10, "shared-id", feature: "exports");
        var third = await Record(tenant, 1, 10, "shared-id", NextMonth);

        Assert.Equal((UsageOutcome.Duplicate, 0L, 0L), Pick(second));
        Assert.Equal((UsageOutcome.Duplicate, 0L, 0L), Pick(third));
        Assert.Equal(0, await Used(tenant, feature: "exports"));
        Assert.Equal(0, await Used(tenant, NextMonth));
    }

    [Fact]
    public async Task SameEventIdOfAnotherTenantOrEnvironment_CountedSeparately()
    {
        var tenant = TestRedis.NewTenant();
        var other = TestRedis.NewTenant();

        Assert.Equal(UsageOutcome.Accepted, (await Record(tenant, 2, 10, "e1")).Outcome);
        Assert.Equal(UsageOutcome.Accepted, (await Record(other, 7, 10, "e1")).Outcome);
        Assert.Equal(UsageOutcome.Accepted, (await Record(tenant, 5, 10, "e1", environment: "staging")).Outcome);

        Assert.Equal(2, await Used(tenant));
        Assert.Equal(7, await Used(other));
        Assert.Equal(5, await Used(tenant, environment: "staging"));
    }

    [Fact]
    public async Task WindowsAndFeatures_CountSeparately_AFullWindowLimitsOnlyItself()
    {
        var tenant = TestRedis.NewTenant();
        await Record(tenant, 5, 5, "fill");

        Assert.Equal(UsageOutcome.LimitExceeded, (await Record(tenant, 1, 5, "late")).Outcome);
        Assert.Equal((UsageOutcome.Accepted, 1L, 0L), Pick(await Record(tenant, 1, 5, "late", NextMonth)));
        Assert.Equal((UsageOutcome.Accepted, 2L, 0L), Pick(await Record(tenant, 2, 5, "exp", feature: "exports")));
        Assert.Equal(5, await Used(tenant));
        Assert.Equal(1, await Used(tenant, NextMonth));
        Assert.Equal(2, await Used(tenant, feature: "exports"));
    }

    [Fact]
    public async Task CoverageNotConfigured_EveryPairUndeclaredAndCounted()
    {
        var tenant = TestRedis.NewTenant();

        var outcome = await Record(tenant, 1, 10, "c1");

        Assert.Equal((UsageOutcome.Accepted, true), (outcome.Outcome, outcome.Undeclared));
    }

    [Fact]
    public async Task CoverageWarn_UndeclaredCountedAndFlagged_DeclaredNotFlagged()
    {
        await DeclareAsync(reject: false, "api-gateway|api_calls");
        var tenant = TestRedis.NewTenant();

        var declared = await Record(tenant, 1, 10, "c1");
        var undeclared = await Record(tenant, 1, 10, "c2", service: "batch-job");

        Assert.Equal((UsageOutcome.Accepted, false), (declared.Outcome, declared.Undeclared));
        Assert.Equal((UsageOutcome.Accepted, true), (undeclared.Outcome, undeclared.Undeclared));
        Assert.Equal(2, await Used(tenant));
    }

    [Fact]
    public async Task CoverageReject_UndeclaredNotCountedNotKept_DeclaredCounted()
    {
        await DeclareAsync(reject: true, "api-gateway|api_calls");
        var tenant = TestRedis.NewTenant();

        var rejected = await Record(tenant, 1, 10, "c1", service: "batch-job");
        var declared = await Record(tenant, 1, 10, "c2");

        Assert.Equal((UsageOutcome.RejectedUndeclared, 0L, true), (rejected.Outcome, rejected.Used, rejected.Undeclared));
        Assert.False(rejected.Accepted);
        Assert.Equal((UsageOutcome.Accepted, 1L, false), (declared.Outcome, declared.Used, declared.Undeclared));

        // Once declared, the same event id counts (the rejection did not keep it).
        await DeclareAsync(reject: true, "api-gateway|api_calls", "batch-job|api_calls");
        Assert.Equal((UsageOutcome.Accepted, 2L, 0L), Pick(await Record(tenant, 1, 10, "c1", service: "batch-job")));
    }

    [Fact]
    public async Task CoverageReject_ComesBeforeTheLimit()
    {
        await DeclareAsync(reject: true);
        var tenant = TestRedis.NewTenant();
        await SeedAsync(tenant, "production", "api_calls", Month, 10);

        Assert.Equal((UsageOutcome.RejectedUndeclared, 10L, 0L), Pick(await Record(tenant, 1, 10, "c1", service: "batch-job")));
    }

    [Fact]
    public async Task CoverageReject_ComesAfterDedupe_CountedEventStaysDuplicate()
    {
        var tenant = TestRedis.NewTenant();
        await Record(tenant, 1, 10, "c1", service: "batch-job");
        await DeclareAsync(reject: true);

        var again = await Record(tenant, 1, 10, "c1", service: "batch-job");

        Assert.Equal((UsageOutcome.Duplicate, 1L, true), (again.Outcome, again.Used, again.Undeclared));
    }

    [Fact]
    public async Task Rebuilding_RecordAndReadRefused_NothingCounted()
    {
        var tenant = TestRedis.NewTenant();
        await Record(tenant, 2, 10, "before");
        await SetRebuildingAsync(tenant, true);

        var record = await Assert.ThrowsAsync<StoreUnavailableException>(async () => await Record(tenant, 1, 10, "during"));
        var read = await Assert.ThrowsAsync<StoreUnavailableException>(async () => await Used(tenant));

        Assert.Equal(StoreKind.UsageRebuilding, record.Store);
        Assert.Equal(StoreKind.UsageRebuilding, read.Store);
        await SetRebuildingAsync(tenant, false);
        Assert.Equal(2, await Used(tenant));
        Assert.Equal((UsageOutcome.Accepted, 3L, 0L), Pick(await Record(tenant, 1, 10, "during")));
    }

    [Fact]
    public async Task CountUpToMaxCount_Accepted_PastIt_RefusedNothingCounted()
    {
        var tenant = TestRedis.NewTenant();
        await SeedAsync(tenant, "production", "api_calls", Month, UsageCounting.MaxCount - 2);

        Assert.Equal((UsageOutcome.Accepted, UsageCounting.MaxCount, 0L), Pick(await Record(tenant, 2, -1, "last")));
        var refused = await Assert.ThrowsAsync<StoreUnavailableException>(async () => await Record(tenant, 1, -1, "past"));

        Assert.Equal(StoreKind.Usage, refused.Store);
        Assert.Equal(UsageCounting.MaxCount, await Used(tenant));
        // Not kept: a duplicate check of the refused id finds nothing, so it is refused again rather than answered Duplicate.
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await Record(tenant, 1, -1, "past"));
    }

    [Fact]
    public async Task NotNormalizedEvent_ArgumentException()
    {
        var command = Command(TestRedis.NewTenant(), 1, 10, "e1");
        command = command with { Event = command.Event with { Timestamp = null } };

        await Assert.ThrowsAsync<ArgumentException>(async () => await Counter.RecordAsync(command, Token));
    }

    [Fact]
    public async Task ParallelRecordsAgainstAHardLimit_ExactlyTheLimitAccepted()
    {
        var tenant = TestRedis.NewTenant();

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => Record(tenant, 1, 25, $"evt-{i}").AsTask()));

        Assert.Equal(25, outcomes.Count(o => o.Outcome == UsageOutcome.Accepted));
        Assert.Equal(35, outcomes.Count(o => o.Outcome == UsageOutcome.LimitExceeded));
        Assert.Equal(Enumerable.Range(1, 25).Select(i => (long)i), outcomes.Where(o => o.Accepted).Select(o => o.Used).Order());
        Assert.Equal(25, await Used(tenant));
    }

    [Fact]
    public async Task ParallelRedeliveries_CountedOnce()
    {
        var tenant = TestRedis.NewTenant();

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Record(tenant, 5, 1_000, "evt-same").AsTask()));

        Assert.Single(outcomes, o => o.Outcome == UsageOutcome.Accepted);
        Assert.Equal(19, outcomes.Count(o => o.Outcome == UsageOutcome.Duplicate));
        Assert.All(outcomes, o => Assert.Equal(5, o.Used));
    }

    // Through UsageRecorder: the answer's fields (UsageRecording.Answer) from each counter's outcome.
    private static Snapshot Plan(string tenant) => SnapshotBuilder.For(tenant)
        .WithGeneratedAt(At)
        .WithMetered("api_calls", 5, ResetPeriod.Month, unit: "call")
        .WithMetered("exports", 5, ResetPeriod.Month, LimitMode.Soft)
        .WithMetered("reports", 5, ResetPeriod.Month, LimitMode.ReportOnly)
        .Build();

    private ValueTask<UsageRecordResult> Through(string tenant, string feature, long quantity, string eventId, DateTimeOffset? at = null) =>
        new UsageRecorder(Counter).RecordAsync(Plan(tenant), new UsageEvent(tenant, "", feature, quantity, eventId, at ?? At), UsageOrigin.Http, At, Token);

    [Fact]
    public async Task Recorder_HardLimit_AnswerOverLimitWithRemainingZero()
    {
        var tenant = TestRedis.NewTenant();

        var within = await Through(tenant, "api_calls", 4, "a1");
        var exceeded = await Through(tenant, "api_calls", 2, "a2");

        Assert.Equal((UsageRecordStatus.Accepted, 4L, 5L, 1L, false, LimitMode.Hard), (within.Status, within.Used, within.Limit, within.Remaining, within.OverLimit, within.LimitMode));
        Assert.Equal((UsageRecordStatus.LimitExceeded, DecisionReason.LimitExceeded, 4L, 1L, true), (exceeded.Status, exceeded.Reason, exceeded.Used, exceeded.Remaining, exceeded.OverLimit));
        Assert.Equal(Month, exceeded.Window);
    }

    [Fact]
    public async Task Recorder_SoftAndReportOnly_OverLimitCountedOverageOnlyForSoft()
    {
        var tenant = TestRedis.NewTenant();

        var soft = await Through(tenant, "exports", 7, "s1");
        var report = await Through(tenant, "reports", 7, "r1");
        var again = await Through(tenant, "exports", 7, "s1");

        Assert.Equal((UsageRecordStatus.Accepted, 7L, 0L, true, 2L), (soft.Status, soft.Used, soft.Remaining, soft.OverLimit, soft.Overage));
        Assert.Equal((UsageRecordStatus.Accepted, 7L, 0L, true, 0L), (report.Status, report.Used, report.Remaining, report.OverLimit, report.Overage));
        Assert.Equal((UsageRecordStatus.Duplicate, DecisionReason.Granted, 7L, 0L), (again.Status, again.Reason, again.Used, again.Overage));
    }

    [Fact]
    public async Task Recorder_TimestampTooOldOrTooNew_InvalidNothingCounted()
    {
        var tenant = TestRedis.NewTenant();

        var old = await Through(tenant, "api_calls", 1, "old", At - UsageEventValidation.MaxAge - TimeSpan.FromMinutes(1));
        var future = await Through(tenant, "api_calls", 1, "future", At + UsageRecorder.DefaultMaxClockSkew + TimeSpan.FromMinutes(1));
        var edge = await Through(tenant, "api_calls", 1, "edge", At - UsageEventValidation.MaxAge);

        Assert.Equal((UsageRecordStatus.Invalid, "timestamp"), (old.Status, old.Error?.Field));
        Assert.Equal((UsageRecordStatus.Invalid, "timestamp"), (future.Status, future.Error?.Field));
        Assert.Equal(UsageRecordStatus.Accepted, edge.Status);
        Assert.Equal(0, await Used(tenant));
        Assert.Equal(1, await Used(tenant, QuotaWindow.For(ResetPeriod.Month, At - UsageEventValidation.MaxAge)));
    }
}

/// <summary>The contract on the Redis usage script, with this test's own stream, coverage and generation keys.</summary>
public sealed class RedisUsageCounterContractTests : UsageCounterContract
{
    private readonly UsageStreamKeys _keys = UsageStreamReader.NewKeys();
    private readonly RedisUsageCounter _counter;

    public RedisUsageCounterContractTests()
    {
        _counter = new RedisUsageCounter(TestRedis.Connection, _keys);
    }

    protected override IUsageCounter Counter => _counter;

    protected override Task SeedAsync(string tenant, string environment, string feature, QuotaWindow window, long used) =>
        TestRedis.Connection.GetDatabase().StringSetAsync(RedisKeys.UsageCounter(new TenantKey(environment, tenant), feature, window.Key), used, TimeSpan.FromHours(1));

    protected override async Task DeclareAsync(bool reject, params string[] pairs) =>
        await UsageStreamReader.DeclareAsync(_keys, reject ? "reject" : "warn", pairs);

    protected override async Task SetRebuildingAsync(string tenant, bool rebuilding)
    {
        var marker = _keys.Generation(RedisKeys.ShardOf(new TenantKey("production", tenant)));
        var db = TestRedis.Connection.GetDatabase();
        _ = rebuilding ? await db.KeyDeleteAsync(marker) : await db.StringSetAsync(marker, "{}", TimeSpan.FromHours(1));
    }
}

/// <summary>The contract on the in-memory double the sidecar's tests use.</summary>
public sealed class FakeUsageCounterContractTests : UsageCounterContract
{
    private readonly FakeUsageCounter _counter = new();

    protected override IUsageCounter Counter => _counter;

    protected override Task SeedAsync(string tenant, string environment, string feature, QuotaWindow window, long used)
    {
        _counter.Set(tenant, environment, feature, window, used);
        return Task.CompletedTask;
    }

    protected override Task DeclareAsync(bool reject, params string[] pairs)
    {
        _counter.RejectUndeclared = reject;
        _counter.Declared = [.. pairs];
        return Task.CompletedTask;
    }

    protected override Task SetRebuildingAsync(string tenant, bool rebuilding)
    {
        _counter.Rebuilding = rebuilding;
        return Task.CompletedTask;
    }
}
