using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Decisions;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Engine.Usage;

namespace EntitlementDecision.Redis.Tests;

/// <summary>The shared usage recorder (sidecar RecordUsage and control-plane batch ingestion) on a real Redis.</summary>
public sealed class UsageRecorderTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset PeriodStart = new(2026, 11, 5, 9, 30, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset PeriodEnd = new(2026, 12, 5, 9, 30, 0, TimeSpan.Zero);
    private readonly UsageStreamKeys _keys = UsageStreamReader.NewKeys();
    private readonly UsageRecorder _recorder;

    public UsageRecorderTests()
    {
        _recorder = new UsageRecorder(TestRedis.Connection, keys: _keys);
    }

    private static Snapshot Snapshot(string tenant, DateTimeOffset? periodStart = null, DateTimeOffset? periodEnd = null, bool suspended = false, LimitMode exportsMode = LimitMode.Soft) =>
        SnapshotBuilder.For(tenant)
            .WithSuspended(suspended)
            .WithPeriod(periodStart, periodEnd)
            .WithGeneratedAt(Now)
            .WithBoolean("projects")
            .WithMetered("api_calls", 50, ResetPeriod.Month, unit: "call")
            .WithMetered("exports", 3, ResetPeriod.Day, exportsMode, "export")
            .WithMetered("compute_minutes", 100, ResetPeriod.BillingPeriod, LimitMode.ReportOnly, "minute")
            .WithInactive("sso")
            .Build();

    private static UsageEvent Event(string tenant, string feature = "api_calls", long quantity = 1, string? eventId = null, DateTimeOffset? at = null, string unit = "") =>
        new(tenant, "", feature, quantity, eventId ?? Guid.NewGuid().ToString("N"), at, "api-gateway", unit);

    private ValueTask<UsageRecordResult> Record(Snapshot? snapshot, UsageEvent usage, UsageRecorder? recorder = null) =>
        (recorder ?? _recorder).RecordAsync(snapshot, usage, UsageOrigin.Http, Now, TestContext.Current.CancellationToken);

    [Fact]
    public async Task TwoHundredParallelCallsAgainstHardLimitOf50_Exactly50Accepted()
    {
        // Four connections, 200 calls started together on the thread pool: the script is the only thing that serialises them.
        var tenant = TestRedis.NewTenant();
        var snapshot = Snapshot(tenant);
        var connections = Enumerable.Range(0, 4).Select(_ => TestRedis.Connect()).ToArray();
        try
        {
            var recorders = connections.Select(c => new UsageRecorder(c, keys: _keys)).ToArray();
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var calls = Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
            {
                await start.Task;
                return await Record(snapshot, Event(tenant, eventId: $"evt-{i}"), recorders[i % recorders.Length]);
            })).ToArray();
            start.SetResult();
            var results = await Task.WhenAll(calls);

            Assert.Equal(50, results.Count(r => r.Status == UsageRecordStatus.Accepted));
            Assert.Equal(150, results.Count(r => r.Status == UsageRecordStatus.LimitExceeded));
            Assert.All(results.Where(r => !r.Accepted), r => Assert.Equal(DecisionReason.LimitExceeded, r.Reason));
            Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), results.Where(r => r.Accepted).Select(r => r.Used).Order());
            var entries = await UsageStreamReader.EventsAsync(_keys);
            Assert.Equal(50, entries.Count(e => e.Fields["outcome"] == "accepted"));
            Assert.Equal(150, entries.Count(e => e.Fields["outcome"] == "limit_exceeded"));
            Assert.Equal(50, await new RedisUsageCounter(TestRedis.Connection, _keys).GetUsedAsync(new TenantKey("production", tenant), "api_calls", results[0].Window!.Value, TestContext.Current.CancellationToken));
        }
        finally
        {
            foreach (var c in connections)
            {
                await c.CloseAsync();
                c.Dispose();
            }
        }
    }

    [Fact]
    public async Task SameEventIdAgain_CountedOnceAndDuplicateStreamed()
    {
        var tenant = TestRedis.NewTenant();
        var snapshot = Snapshot(tenant);
        var usage = Event(tenant, quantity: 5, eventId: "evt-once");

        var first = await Record(snapshot, usage);
        var second = await Record(snapshot, usage);

        Assert.Equal((UsageRecordStatus.Accepted, 5L), (first.Status, first.Used));
        Assert.Equal((UsageRecordStatus.Duplicate, 5L, DecisionReason.Granted), (second.Status, second.Used, second.Reason));
        Assert.True(second.Accepted);
        var entries = await UsageStreamReader.EventsAsync(_keys);
        Assert.Equal(["accepted", "duplicate"], entries.Select(e => e.Fields["outcome"]));
        Assert.All(entries, e => Assert.Equal("http", e.Fields["origin"]));
    }

    [Fact]
    public async Task SoftLimit_AcceptedOverLimitWithOverageOnItsEventsEntry()
    {
        var tenant = TestRedis.NewTenant();
        var snapshot = Snapshot(tenant);

        await Record(snapshot, Event(tenant, "exports", 2));
        var over = await Record(snapshot, Event(tenant, "exports", 3));

        Assert.Equal(UsageRecordStatus.Accepted, over.Status);
        Assert.Equal((true, 2L, 5L, 0L, LimitMode.Soft), (over.OverLimit, over.Overage, over.Used, over.Remaining, over.LimitMode));
        var overage = (await UsageStreamReader.EventsAsync(_keys))[^1];
        Assert.Equal(("2", "5", "d20261121"), (overage.Fields["overage"], overage.Fields["used_after"], overage.Fields["window"]));
        Assert.Equal(0, await UsageStreamReader.RetiredOverageKeysAsync(_keys));
    }

    [Fact]
    public async Task ReportOnly_NeverDeniesButSaysOverLimit()
    {
        var tenant = TestRedis.NewTenant();
        var snapshot = Snapshot(tenant, PeriodStart, PeriodEnd);

        var result = await Record(snapshot, Event(tenant, "compute_minutes", 250));

        Assert.Equal((UsageRecordStatus.Accepted, true, 0L, 250L), (result.Status, result.OverLimit, result.Overage, result.Used));
        Assert.Equal("0", Assert.Single(await UsageStreamReader.EventsAsync(_keys)).Fields["overage"]);
    }

    [Theory]
    [InlineData("2026-11-21T12:00:00Z", "b20261105093000", "2026-12-05T09:30:00Z")] // inside the stored period
    [InlineData("2026-11-05T09:30:00Z", "b20261105093000", "2026-12-05T09:30:00Z")] // its first instant
    [InlineData("2026-11-05T09:29:59Z", "b20261005093000", "2026-11-05T09:30:00Z")] // a late event of the period before
    public async Task BillingPeriodFeature_CountsInTheSubscriptionsPeriod(string at, string windowKey, string windowEnd)
    {
        var tenant = TestRedis.NewTenant();

        var result = await Record(Snapshot(tenant, PeriodStart, PeriodEnd), Event(tenant, "compute_minutes", 7, at: DateTimeOffset.Parse(at)));

        Assert.Equal(windowKey, result.Window!.Value.Key);
        Assert.Equal(DateTimeOffset.Parse(windowEnd), result.Window.Value.End);
        Assert.Equal(windowKey, Assert.Single(await UsageStreamReader.EventsAsync(_keys)).Fields["window"]);
        Assert.Equal("7", await TestRedis.Connection.GetDatabase().StringGetAsync(RedisKeys.UsageCounter(new TenantKey("production", tenant), "compute_minutes", windowKey)));
    }

    [Fact]
    public async Task BillingPeriodFeatureAfterStoredPeriodEnd_RollsForwardMonthly()
    {
        var tenant = TestRedis.NewTenant();
        var recorder = _recorder;
        var later = new DateTimeOffset(2027, 1, 6, 0, 0, 0, TimeSpan.Zero);

        var result = await recorder.RecordAsync(Snapshot(tenant, PeriodStart, PeriodEnd), Event(tenant, "compute_minutes", 1, at: later), UsageOrigin.Grpc, later, TestContext.Current.CancellationToken);

        Assert.Equal("b20270105093000", result.Window!.Value.Key);
        Assert.Equal(new DateTimeOffset(2027, 2, 5, 9, 30, 0, TimeSpan.Zero), result.Window.Value.End);
    }

    [Fact]
    public async Task BillingPeriodFeatureWithoutSubscriptionPeriod_CalendarMonth()
    {
        var tenant = TestRedis.NewTenant();

        var result = await Record(Snapshot(tenant), Event(tenant, "compute_minutes", 1));

        Assert.Equal("b20261101000000", result.Window!.Value.Key);
    }

    [Theory]
    [InlineData(0, 3)] // now: the day's hard limit of 3
    [InlineData(30, 3)] // back-dated within 35 days: that day's counter still lives and holds the limit
    [InlineData(34.9, 3)]
    public async Task BackDatedUsageWithinMaxAge_HeldToTheHardLimitOfItsDay(double daysAgo, int accepted)
    {
        var tenant = TestRedis.NewTenant();
        var snapshot = Snapshot(tenant, exportsMode: LimitMode.Hard);
        var at = Now - TimeSpan.FromDays(daysAgo);

        var results = new List<UsageRecordResult>();
        for (var i = 0; i < 10; i++)
        {
            results.Add(await Record(snapshot, Event(tenant, "exports", 1, at: at)));
        }

        Assert.Equal(accepted, results.Count(r => r.Status == UsageRecordStatus.Accepted));
        Assert.Equal(10 - accepted, results.Count(r => r.Status == UsageRecordStatus.LimitExceeded));
        var ttl = await TestRedis.Connection.GetDatabase().KeyTimeToLiveAsync(RedisKeys.UsageCounter(new TenantKey("production", tenant), "exports", results[0].Window!.Value.Key));
        Assert.True(ttl > TimeSpan.Zero, "the counter of a back-dated window must not expire at once");
    }

    [Theory]
    [InlineData(35.01)]
    [InlineData(60)]
    public async Task UsageOlderThanMaxAge_InvalidTimestampAndNothingCounted(double daysAgo)
    {
        var tenant = TestRedis.NewTenant();
        var snapshot = Snapshot(tenant, exportsMode: LimitMode.Hard);

        var results = new List<UsageRecordResult>();
        for (var i = 0; i < 10; i++)
        {
            results.Add(await Record(snapshot, Event(tenant, "exports", 1, at: Now - TimeSpan.FromDays(daysAgo))));
        }

        Assert.All(results, r => Assert.Equal((UsageRecordStatus.Invalid, "timestamp"), (r.Status, r.Error!.Field)));
        Assert.Contains("35 days in the past", results[0].Error!.Message, StringComparison.Ordinal);
        Assert.Empty(await UsageStreamReader.EventsAsync(_keys));
    }

    [Fact]
    public async Task TimestampPicksTheWindow()
    {
        var tenant = TestRedis.NewTenant();

        var result = await Record(Snapshot(tenant), Event(tenant, "exports", 1, at: Now.AddDays(-1)));

        Assert.Equal("d20261120", result.Window!.Value.Key);
        var entry = Assert.Single(await UsageStreamReader.EventsAsync(_keys));
        Assert.Equal(Now.AddDays(-1).ToUnixTimeMilliseconds().ToString(), entry.Fields["occurred_at_ms"]);
    }

    [Fact]
    public async Task UnitOfTheCatalog_AcceptedAndStreamed()
    {
        var tenant = TestRedis.NewTenant();

        var result = await Record(Snapshot(tenant), Event(tenant, unit: "call"));

        Assert.Equal(UsageRecordStatus.Accepted, result.Status);
        Assert.Equal("call", Assert.Single(await UsageStreamReader.EventsAsync(_keys)).Fields["unit"]);
    }

    [Fact]
    public async Task OtherUnit_InvalidAndNothingStreamed()
    {
        var tenant = TestRedis.NewTenant();

        var result = await Record(Snapshot(tenant), Event(tenant, unit: "request"));

        Assert.Equal(UsageRecordStatus.Invalid, result.Status);
        Assert.Equal("unit", result.Error!.Field);
        Assert.Contains("'call'", result.Error.Message);
        Assert.Empty(await UsageStreamReader.EventsAsync(_keys));
    }

    [Fact]
    public async Task CoverageRejectThroughRecorder_ReasonUndeclaredUsage()
    {
        await UsageStreamReader.DeclareAsync(_keys, "reject", "exporter|exports");
        var tenant = TestRedis.NewTenant();

        var result = await Record(Snapshot(tenant), Event(tenant));

        Assert.Equal((UsageRecordStatus.RejectedUndeclared, DecisionReason.UndeclaredUsage, true), (result.Status, result.Reason, result.Undeclared));
        Assert.False(result.Accepted);
    }

    [Fact]
    public async Task NotGranted_ReasonsAndNothingStreamed()
    {
        var tenant = TestRedis.NewTenant();

        Assert.Equal(DecisionReason.UnknownTenant, (await Record(null, Event(tenant))).Reason);
        Assert.Equal(DecisionReason.NotInPlan, (await Record(Snapshot(tenant), Event(tenant, "storage_gb"))).Reason);
        Assert.Equal(DecisionReason.SubscriptionInactive, (await Record(Snapshot(tenant), Event(tenant, "sso"))).Reason);
        Assert.Equal(DecisionReason.TenantSuspended, (await Record(Snapshot(tenant, suspended: true), Event(tenant))).Reason);
        Assert.Empty(await UsageStreamReader.EventsAsync(_keys));
    }

    [Fact]
    public async Task BooleanFeature_InvalidFeatureKey()
    {
        var tenant = TestRedis.NewTenant();

        var result = await Record(Snapshot(tenant), Event(tenant, "projects"));

        Assert.Equal((UsageRecordStatus.Invalid, "feature_key"), (result.Status, result.Error!.Field));
    }

    [Fact]
    public async Task InvalidEvent_NamesTheField()
    {
        var tenant = TestRedis.NewTenant();

        var result = await Record(Snapshot(tenant), Event(tenant) with { TraceId = "not-a-trace" });

        Assert.Equal((UsageRecordStatus.Invalid, "trace_id"), (result.Status, result.Error!.Field));
        Assert.Empty(await UsageStreamReader.EventsAsync(_keys));
    }

    [Fact]
    public async Task SnapshotOfAnotherTenant_ArgumentException()
    {
        await Assert.ThrowsAsync<ArgumentException>(async () => await Record(Snapshot(TestRedis.NewTenant()), Event(TestRedis.NewTenant())));
    }

    [Theory]
    [InlineData(-1, DecisionReason.ReadOnly)] // grace over, read-only until suspend_at: a write meter is not recorded
    [InlineData(-20, DecisionReason.BillingSuspended)]
    public async Task DunningTenant_NotGrantedAsTheCheckWouldAnswer(int graceEndedDaysAgo, DecisionReason reason)
    {
        var tenant = TestRedis.NewTenant();
        var graceEnds = Now.AddDays(graceEndedDaysAgo);
        var snapshot = SnapshotBuilder.For(tenant)
            .WithVersion(2)
            .WithState(SubscriptionState.PastDue)
            .WithGeneratedAt(Now)
            .WithMetered("uploads", 10, ResetPeriod.Month, unit: "file", write: true)
            .WithDunning(graceEnds, graceEnds.AddDays(11))
            .Build();

        var result = await Record(snapshot, Event(tenant, "uploads"));

        Assert.Equal((UsageRecordStatus.NotGranted, reason), (result.Status, result.Reason));
        Assert.Empty(await UsageStreamReader.EventsAsync(_keys));
    }
}
