using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Engine.Usage;

namespace EntitlementDecision.Redis.Tests;

/// <summary>The usage script on a real Redis: the stream entries, expiries, wrong key types, batching, all or nothing. The rules every
/// counter shares (dedupe, limit modes, coverage) are in <see cref="UsageCounterContract"/>, run here and against the test double.</summary>
public sealed class RedisUsageCounterTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);
    private static readonly QuotaWindow Month = QuotaWindow.For(ResetPeriod.Month, At);
    private static readonly QuotaWindow NextMonth = QuotaWindow.For(ResetPeriod.Month, new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly UsageStreamKeys _keys = UsageStreamReader.NewKeys();
    private readonly RedisUsageCounter _counter;

    public RedisUsageCounterTests()
    {
        _counter = new RedisUsageCounter(TestRedis.Connection, _keys);
    }

    private static UsageRecordCommand Command(
        string tenant, long quantity, long limit, string eventId, QuotaWindow? window = null, string feature = "api_calls",
        LimitMode mode = LimitMode.Hard, string service = "api-gateway") => new(
        new UsageEvent(tenant, "production", feature, quantity, eventId, At, service, "", "req-1", "4bf92f3577b34da6a3ce929d0e0e4736", "sha256:" + new string('a', 64)),
        UsageOrigin.Grpc,
        window ?? Month,
        limit,
        mode,
        "call",
        At);

    private ValueTask<UsageRecordOutcome> Record(
        string tenant, long quantity, long limit, string eventId, QuotaWindow? window = null, string feature = "api_calls",
        LimitMode mode = LimitMode.Hard, string service = "api-gateway") =>
        _counter.RecordAsync(Command(tenant, quantity, limit, eventId, window, feature, mode, service), TestContext.Current.CancellationToken);

    private ValueTask<long> Used(string tenant, QuotaWindow? window = null, string feature = "api_calls") =>
        _counter.GetUsedAsync(new TenantKey("production", tenant), feature, window ?? Month, TestContext.Current.CancellationToken);

    private Task<List<(string Id, Dictionary<string, string> Fields)>> Events() => UsageStreamReader.EventsAsync(_keys);

    private Task<long> RetiredOverageKeys() => UsageStreamReader.RetiredOverageKeysAsync(_keys);

    [Fact]
    public async Task NoGenerationMarker_CountersBeingRebuilt_NothingRecordedAndReadsSaySo()
    {
        var keys = UsageStreamReader.NewKeys(healed: false);
        var counter = new RedisUsageCounter(TestRedis.Connection, keys);
        var tenant = TestRedis.NewTenant();

        var record = await Assert.ThrowsAsync<StoreUnavailableException>(async () =>
            await counter.RecordAsync(Command(tenant, 1, 10, "e1"), TestContext.Current.CancellationToken));
        var read = await Assert.ThrowsAsync<StoreUnavailableException>(async () =>
            await counter.GetUsedAsync(new TenantKey("production", tenant), "api_calls", Month, TestContext.Current.CancellationToken));

        Assert.Equal(StoreKind.UsageRebuilding, record.Store);
        Assert.Equal(StoreKind.UsageRebuilding, read.Store);
        Assert.Empty(await UsageStreamReader.EventsAsync(keys));
        Assert.Equal(0, await Used(tenant)); // the counter was not touched
        await TestRedis.Connection.GetDatabase().StringSetAsync(keys.Generation(UsageStreamReader.Shard(tenant)), "{}");
        Assert.Equal(UsageOutcome.Accepted, (await counter.RecordAsync(Command(tenant, 1, 10, "e1"), TestContext.Current.CancellationToken)).Outcome);
    }

    [Fact]
    public async Task Accepted_StreamEntryCarriesEveryAgreedField()
    {
        var tenant = TestRedis.NewTenant();
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        var outcome = await Record(tenant, 3, 10, "e1");

        var (id, f) = Assert.Single(await Events());
        Assert.Equal(outcome.StreamEntryId, id);
        Assert.Equal(
            ["v", "outcome", "tenant_id", "environment", "event_id", "feature", "quantity", "unit", "service", "occurred_at_ms", "received_at_ms",
             "window", "limit", "limit_mode", "used_after", "overage", "undeclared", "request_id", "trace_id", "source_digest", "origin"],
            f.Keys);
        Assert.Equal("1", f["v"]);
        Assert.Equal("accepted", f["outcome"]);
        Assert.Equal(tenant, f["tenant_id"]);
        Assert.Equal("production", f["environment"]);
        Assert.Equal("e1", f["event_id"]);
        Assert.Equal("api_calls", f["feature"]);
        Assert.Equal("3", f["quantity"]);
        Assert.Equal("call", f["unit"]);
        Assert.Equal("api-gateway", f["service"]);
        Assert.Equal(At.ToUnixTimeMilliseconds().ToString(), f["occurred_at_ms"]);
        Assert.InRange(long.Parse(f["received_at_ms"]), before - 60_000, before + 60_000);
        Assert.Equal("m202611", f["window"]);
        Assert.Equal("10", f["limit"]);
        Assert.Equal("hard", f["limit_mode"]);
        Assert.Equal("3", f["used_after"]);
        Assert.Equal("0", f["overage"]);
        Assert.Equal("1", f["undeclared"]);
        Assert.Equal("req-1", f["request_id"]);
        Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", f["trace_id"]);
        Assert.Equal("sha256:" + new string('a', 64), f["source_digest"]);
        Assert.Equal("grpc", f["origin"]);
        Assert.Equal(0, await RetiredOverageKeys());
    }

    [Fact]
    public async Task DuplicateEventId_CountedOnceAndStreamedAsDuplicate()
    {
        var tenant = TestRedis.NewTenant();

        Assert.Equal((UsageOutcome.Accepted, 4L), Pick(await Record(tenant, 4, 10, "evt-dup")));
        var again = await Record(tenant, 4, 10, "evt-dup");

        Assert.Equal((UsageOutcome.Duplicate, 4L), Pick(again));
        Assert.True(again.Accepted);
        Assert.Equal(4, await Used(tenant));
        var entries = await Events();
        Assert.Equal(["accepted", "duplicate"], entries.Select(e => e.Fields["outcome"]));
        Assert.Equal("4", entries[1].Fields["used_after"]);
    }

    [Fact]
    public async Task HardLimitExceeded_NothingCountedEventIdNotRememberedAndStreamed()
    {
        var tenant = TestRedis.NewTenant();
        await Record(tenant, 3, 5, "e1");

        Assert.Equal((UsageOutcome.LimitExceeded, 3L), Pick(await Record(tenant, 3, 5, "e2")));
        Assert.Equal(3, await Used(tenant));

        // Not remembered: a retry with the same event id counts when it fits.
        Assert.Equal((UsageOutcome.Accepted, 5L), Pick(await Record(tenant, 2, 5, "e2")));
        Assert.Equal(5, await Used(tenant));
        Assert.Equal(["accepted", "limit_exceeded", "accepted"], (await Events()).Select(e => e.Fields["outcome"]));
        Assert.Equal(0, await RetiredOverageKeys());
    }

    [Fact]
    public async Task LimitExceededThenNextWindow_RetryCountsInNewWindow()
    {
        var tenant = TestRedis.NewTenant();
        await Record(tenant, 5, 5, "fill");
        Assert.Equal(UsageOutcome.LimitExceeded, (await Record(tenant, 1, 5, "late")).Outcome);

        Assert.Equal((UsageOutcome.Accepted, 1L), Pick(await Record(tenant, 1, 5, "late", NextMonth)));
        Assert.Equal(5, await Used(tenant));
        Assert.Equal(1, await Used(tenant, NextMonth));
        Assert.Equal("m202612", (await Events())[^1].Fields["window"]);
    }

    [Fact]
    public async Task Unlimited_AlwaysCounted()
    {
        var tenant = TestRedis.NewTenant();

        Assert.Equal((UsageOutcome.Accepted, 1_000_000L), Pick(await Record(tenant, 1_000_000, -1, "big")));
        Assert.Equal((UsageOutcome.Accepted, 1_000_001L), Pick(await Record(tenant, 1, -1, "one")));
        Assert.Equal(1_000_001, await Used(tenant));
        Assert.Equal("-1", (await Events())[0].Fields["limit"]);
    }

    [Fact]
    public async Task SoftLimit_AcceptsCountsAndRecordsOverageOnTheEventsEntryOnly()
    {
        var tenant = TestRedis.NewTenant();

        var within = await Record(tenant, 4, 5, "s1", mode: LimitMode.Soft);
        var crossing = await Record(tenant, 3, 5, "s2", mode: LimitMode.Soft);
        var beyond = await Record(tenant, 2, 5, "s3", mode: LimitMode.Soft);

        Assert.Equal(new UsageRecordOutcome(UsageOutcome.Accepted, 4, 0, true, within.StreamEntryId), within);
        Assert.Equal((UsageOutcome.Accepted, 7L, 2L), (crossing.Outcome, crossing.Used, crossing.Overage));
        Assert.Equal((UsageOutcome.Accepted, 9L, 2L), (beyond.Outcome, beyond.Used, beyond.Overage));
        Assert.Equal(9, await Used(tenant));

        // The events stream (bounded by the ledger consumer's trim) is the overage's only record: no second, unbounded stream.
        var events = await Events();
        Assert.Equal(["s1", "s2", "s3"], events.Select(e => e.Fields["event_id"]));
        Assert.Equal(["0", "2", "2"], events.Select(e => e.Fields["overage"]));
        Assert.All(events, e => Assert.Equal("soft", e.Fields["limit_mode"]));
        Assert.Equal(0, await RetiredOverageKeys());
    }

    [Fact]
    public async Task ReportOnly_NeverDeniesAndEmitsNoOverage()
    {
        var tenant = TestRedis.NewTenant();

        var first = await Record(tenant, 5, 1, "r1", mode: LimitMode.ReportOnly);
        var second = await Record(tenant, 5, 0, "r2", mode: LimitMode.ReportOnly);

        Assert.Equal((UsageOutcome.Accepted, 5L, 0L), (first.Outcome, first.Used, first.Overage));
        Assert.Equal((UsageOutcome.Accepted, 10L, 0L), (second.Outcome, second.Used, second.Overage));
        Assert.Equal(10, await Used(tenant));
        Assert.All(await Events(), e => Assert.Equal("report_only", e.Fields["limit_mode"]));
        Assert.Equal(0, await RetiredOverageKeys());
    }

    [Fact]
    public async Task CoverageWarn_UndeclaredAcceptedAndFlagged_DeclaredNotFlagged()
    {
        await UsageStreamReader.DeclareAsync(_keys, "warn", "api-gateway|api_calls");
        var tenant = TestRedis.NewTenant();

        var declared = await Record(tenant, 1, 10, "c1");
        var undeclared = await Record(tenant, 1, 10, "c2", service: "batch-job");

        Assert.Equal((UsageOutcome.Accepted, false), (declared.Outcome, declared.Undeclared));
        Assert.Equal((UsageOutcome.Accepted, true), (undeclared.Outcome, undeclared.Undeclared));
        Assert.Equal(2, await Used(tenant));
        Assert.Equal(["0", "1"], (await Events()).Select(e => e.Fields["undeclared"]));
    }

    [Fact]
    public async Task CoverageReject_UndeclaredNotCountedNotRememberedAndStreamed()
    {
        await UsageStreamReader.DeclareAsync(_keys, "reject", "api-gateway|api_calls");
        var tenant = TestRedis.NewTenant();

        var rejected = await Record(tenant, 1, 10, "c1", service: "batch-job");
        var declared = await Record(tenant, 1, 10, "c2");

        Assert.Equal((UsageOutcome.RejectedUndeclared, 0L, true), (rejected.Outcome, rejected.Used, rejected.Undeclared));
        Assert.False(rejected.Accepted);
        Assert.Equal(UsageOutcome.Accepted, declared.Outcome);
        Assert.Equal(["rejected_undeclared", "accepted"], (await Events()).Select(e => e.Fields["outcome"]));

        // Once declared, the same event id counts (the rejection did not keep it).
        await UsageStreamReader.DeclareAsync(_keys, "reject", "batch-job|api_calls");
        Assert.Equal((UsageOutcome.Accepted, 2L), Pick(await Record(tenant, 1, 10, "c1", service: "batch-job")));
    }

    [Fact]
    public async Task DuplicateOfUndeclaredUnderReject_StillDuplicate()
    {
        // Dedupe comes first: an event counted before coverage became strict stays counted once, not rejected.
        var tenant = TestRedis.NewTenant();
        await Record(tenant, 1, 10, "c1", service: "batch-job");
        await UsageStreamReader.DeclareAsync(_keys, "reject");

        Assert.Equal(UsageOutcome.Duplicate, (await Record(tenant, 1, 10, "c1", service: "batch-job")).Outcome);
    }

    [Fact]
    public async Task EventsStreamOfWrongType_ScriptFailsAndNothingChanges()
    {
        var tenant = TestRedis.NewTenant();
        await Record(tenant, 2, 10, "before");
        var db = TestRedis.Connection.GetDatabase();
        await db.KeyDeleteAsync(_keys.Events(UsageStreamReader.Shard(tenant)));
        await db.StringSetAsync(_keys.Events(UsageStreamReader.Shard(tenant)), "not a stream");

        var failure = await Assert.ThrowsAsync<StoreUnavailableException>(async () => await Record(tenant, 3, 10, "during"));

        Assert.Contains("not a stream", failure.Message);
        Assert.Equal(2, await Used(tenant));

        // The event id was not kept either: once the stream is back, the retry counts.
        await db.KeyDeleteAsync(_keys.Events(UsageStreamReader.Shard(tenant)));
        Assert.Equal((UsageOutcome.Accepted, 5L), Pick(await Record(tenant, 3, 10, "during")));
    }

    [Fact]
    public async Task RetiredOverageKeyLeftByAnUpgrade_NotTouchedBySoftOverage()
    {
        // The script no longer names the old overage stream: whatever an earlier version left there neither fails nor grows.
        var tenant = TestRedis.NewTenant();
        var retired = _keys.RetiredOverages(UsageStreamReader.Shard(tenant));
        await TestRedis.Connection.GetDatabase().StringSetAsync(retired, "left by an earlier version");

        var outcome = await Record(tenant, 3, 1, "soft", mode: LimitMode.Soft);

        Assert.Equal((UsageOutcome.Accepted, 3L, 2L), (outcome.Outcome, outcome.Used, outcome.Overage));
        Assert.Equal("2", Assert.Single(await Events()).Fields["overage"]);
        Assert.Equal("left by an earlier version", (string?)await TestRedis.Connection.GetDatabase().StringGetAsync(retired));
    }

    [Fact]
    public async Task CounterHoldingNonInteger_ScriptFailsAndNothingIsStreamed()
    {
        var tenant = TestRedis.NewTenant();
        var db = TestRedis.Connection.GetDatabase();
        await db.StringSetAsync(RedisKeys.UsageCounter(new TenantKey("production", tenant), "api_calls", Month.Key), "abc");

        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await Record(tenant, 1, 10, "e1"));

        Assert.Empty(await Events());
        Assert.False(await db.KeyExistsAsync(RedisKeys.UsageEvent(new TenantKey("production", tenant), "e1")));
    }

    [Fact]
    public async Task CounterAndMarker_GetTheirExpiries()
    {
        var tenant = TestRedis.NewTenant();
        var db = TestRedis.Connection.GetDatabase();

        await Record(tenant, 1, 10, "e1");

        var counterTtl = await db.KeyTimeToLiveAsync(RedisKeys.UsageCounter(new TenantKey("production", tenant), "api_calls", Month.Key));
        var markerTtl = await db.KeyTimeToLiveAsync(RedisKeys.UsageEvent(new TenantKey("production", tenant), "e1"));
        // Relative to the command's receive time (At), never to today's date.
        var expectedCounterTtl = Month.End + RedisUsageCounter.CounterRetention - At;
        Assert.NotNull(counterTtl);
        Assert.InRange(counterTtl.Value, expectedCounterTtl - TimeSpan.FromMinutes(1), expectedCounterTtl);
        Assert.NotNull(markerTtl);
        Assert.InRange(markerTtl.Value, RedisUsageCounter.DedupeRetention - TimeSpan.FromMinutes(1), RedisUsageCounter.DedupeRetention);
    }

    [Fact]
    public async Task WindowEndedLongBeforeReceipt_CounterStillLivesAndLimits()
    {
        // A day window that ended 40 days before receipt (older than the schema allows, so only a direct command can do this):
        // the counter gets the minimum lifetime, never an expiry in the past, so the hard limit still holds within it.
        var tenant = TestRedis.NewTenant();
        var oldDay = QuotaWindow.For(ResetPeriod.Day, At - TimeSpan.FromDays(40));
        var db = TestRedis.Connection.GetDatabase();

        Assert.Equal(UsageOutcome.Accepted, (await Record(tenant, 3, 3, "old-1", oldDay)).Outcome);
        Assert.Equal(UsageOutcome.LimitExceeded, (await Record(tenant, 1, 3, "old-2", oldDay)).Outcome);

        var ttl = await db.KeyTimeToLiveAsync(RedisKeys.UsageCounter(new TenantKey("production", tenant), "api_calls", oldDay.Key));
        Assert.NotNull(ttl);
        Assert.InRange(ttl.Value, RedisUsageCounter.MinCounterTtl - TimeSpan.FromMinutes(1), RedisUsageCounter.MinCounterTtl);
        Assert.Equal(3, await Used(tenant, oldDay));
    }

    [Fact]
    public async Task ParallelRecordsAgainstLimit_ExactlyLimitAcceptedAndStreamed()
    {
        var tenant = TestRedis.NewTenant();

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Record(tenant, 1, 50, $"evt-{i}").AsTask()));

        Assert.Equal(50, outcomes.Count(o => o.Outcome == UsageOutcome.Accepted));
        Assert.Equal(150, outcomes.Count(o => o.Outcome == UsageOutcome.LimitExceeded));
        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), outcomes.Where(o => o.Accepted).Select(o => o.Used).Order());
        Assert.Equal(50, await Used(tenant));
        var events = await Events();
        Assert.Equal(50, events.Count(e => e.Fields["outcome"] == "accepted"));
        Assert.Equal(150, events.Count(e => e.Fields["outcome"] == "limit_exceeded"));
    }

    [Fact]
    public async Task ConcurrentRecordsOfOneShard_ShareScriptCalls_EachAnsweredAsAlone()
    {
        var tenant = TestRedis.NewTenant();

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Record(tenant, 2, 1_000, $"evt-{i}").AsTask()));

        // Calls that arrive while the shard's script call is in flight go in the next one.
        Assert.InRange(_counter.ScriptCalls, 1, 100);
        Assert.All(outcomes, o => Assert.Equal(UsageOutcome.Accepted, o.Outcome));
        Assert.Equal(Enumerable.Range(1, 200).Select(i => 2L * i), outcomes.Select(o => o.Used).Order());
        Assert.Equal(200, outcomes.Select(o => o.StreamEntryId).Distinct().Count());
        Assert.Equal(400, await Used(tenant));
    }

    [Fact]
    public async Task RefusedEventAmongConcurrentOnes_OnlyItFails_NothingOfItWritten()
    {
        var broken = TestRedis.NewTenant();
        string healthy;
        do
        {
            healthy = TestRedis.NewTenant();
        }
        while (UsageStreamReader.Shard(healthy) != UsageStreamReader.Shard(broken));

        // The broken tenant's counter holds a hash: its event is refused; the others of its shard, queued with it, are not.
        await TestRedis.Connection.GetDatabase().HashSetAsync(RedisKeys.UsageCounter(new TenantKey("production", broken), "api_calls", Month.Key), "x", "1");
        var calls = Enumerable.Range(0, 30).Select(i => Record(healthy, 1, 1_000, $"evt-{i}").AsTask()).ToList();
        var refused = Record(broken, 1, 1_000, "evt-broken").AsTask();
        calls.AddRange(Enumerable.Range(30, 30).Select(i => Record(healthy, 1, 1_000, $"evt-{i}").AsTask()));

        var error = await Assert.ThrowsAsync<StoreUnavailableException>(() => refused);
        var outcomes = await Task.WhenAll(calls);

        Assert.Equal(StoreKind.Usage, error.Store);
        Assert.Contains("holds a hash, not a string", error.Message);
        Assert.All(outcomes, o => Assert.Equal(UsageOutcome.Accepted, o.Outcome));
        Assert.Equal(60, await Used(healthy));
        Assert.DoesNotContain(await Events(), e => e.Fields["tenant_id"] == broken);
        Assert.False(await TestRedis.Connection.GetDatabase().KeyExistsAsync(RedisKeys.UsageEvent(new TenantKey("production", broken), "evt-broken")));
    }

    private static (UsageOutcome, long) Pick(UsageRecordOutcome outcome) => (outcome.Outcome, outcome.Used);
}
