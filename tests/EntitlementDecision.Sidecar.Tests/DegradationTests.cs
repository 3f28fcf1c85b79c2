using EntitlementDecision.Contracts.V1;
using EntitlementDecision.TestSupport;
using Grpc.Core;

namespace EntitlementDecision.Sidecar.Tests;

/// <summary>
/// The degradation policy through the gRPC handlers and the real <see cref="SnapshotCache"/>: what a caller sees when the invalidation
/// subscription is down, the usage store does not answer or the counters are being rebuilt, and read-your-writes (min_snapshot_version).
/// Test features (TestData.Snapshot): projects, api_calls (limit 10) fail_closed with the default 900 s; dashboards fail_open with 60 s;
/// searches metered (limit 5) fail_open.
/// </summary>
public sealed class DegradationTests
{
    private readonly DictionarySource _source = new();
    private readonly FakeUsageCounter _usage = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 6, 15, 12, 0, 0, TimeSpan.Zero));
    private readonly SidecarOptions _options = new() { MaxVersionWait = TimeSpan.Zero };
    private readonly SnapshotCache _cache;
    private readonly ServiceUnderTest _service;
    private readonly string _tenant = TestData.NewTenant();

    public DegradationTests()
    {
        _cache = new SnapshotCache(_source, _options, _time);
        _service = new ServiceUnderTest(_cache, _usage, _options, _time);
        _source.Put(TestData.Snapshot(_tenant, 7));
    }

    private Task<CheckEntitlementResponse> Check(string feature, long quantity = 0, long minVersion = 0) =>
        _service.CheckEntitlementAsync(
            new CheckEntitlementRequest { TenantId = _tenant, FeatureKey = feature, RequestedQuantity = quantity, MinSnapshotVersion = minVersion },
            TestData.Context()).AsTask();

    [Fact]
    public async Task ConfirmedSnapshot_NotAFallback()
    {
        var response = await Check("projects");

        Assert.True(response.Allowed);
        Assert.False(response.Fallback);
        Assert.Equal(FallbackCause.Unspecified, response.FallbackCause);
        Assert.Equal(0, response.SnapshotAgeMs);
    }

    [Fact]
    public async Task SubscriptionDown_WithinMaxStaleness_LastAnswerFlaggedWithItsAge()
    {
        await Check("projects");
        _cache.SetLive(false);
        _time.Advance(TimeSpan.FromMinutes(10));

        var response = await Check("projects");

        Assert.True(response.Allowed);
        Assert.Equal(DecisionReason.Granted, response.Reason);
        Assert.True(response.Fallback);
        Assert.Equal(FallbackCause.SnapshotUnconfirmed, response.FallbackCause);
        Assert.Equal(600_000, response.SnapshotAgeMs);
    }

    [Fact]
    public async Task SubscriptionDown_BeyondMaxStaleness_FailClosedDenies_FailOpenKeepsAnswering_DenialsStand()
    {
        await Check("projects");
        _cache.SetLive(false);
        _time.Advance(TimeSpan.FromSeconds(901));

        var closed = await Check("projects");
        var open = await Check("dashboards");
        var notInPlan = await Check("sso");

        Assert.False(closed.Allowed);
        Assert.Equal(DecisionReason.FallbackDenied, closed.Reason);
        Assert.Equal(901_000, closed.SnapshotAgeMs);
        Assert.True(open.Allowed);
        Assert.True(open.Fallback);
        Assert.Equal(DecisionReason.SubscriptionInactive, notInPlan.Reason);
        Assert.True(notInPlan.Fallback);
    }

    [Fact]
    public async Task SubscriptionBack_StaleEntryUnconfirmedUntilTheSourceAnswers_ThenCurrentAgain()
    {
        await Check("projects");
        _cache.SetLive(false);
        _time.Advance(TimeSpan.FromMinutes(20));
        _source.Unreachable = true;
        _cache.MarkAllStale();
        _cache.SetLive(true);

        // Reconnected, but Redis did not answer the revalidation: the entry is still unconfirmed since the loss 20 minutes ago.
        var stale = await Check("projects");
        Assert.Equal(DecisionReason.FallbackDenied, stale.Reason);
        Assert.Equal(1_200_000, stale.SnapshotAgeMs);

        _source.Unreachable = false;
        await WaitUntil(async () => !(await Check("projects")).Fallback);
        Assert.True((await Check("projects")).Allowed);
    }

    [Fact]
    public async Task RedisEmptyAfterReconnect_HeldSnapshotKeptUnconfirmed_UntilTheHealerRepublishesIt()
    {
        await Check("projects");
        _cache.SetLive(false);
        _source.Remove(_tenant);
        _cache.MarkAllStale();
        _cache.SetLive(true);
        _time.Advance(TimeSpan.FromSeconds(5));

        // The revalidation finds nothing (Redis lost its data): the held snapshot answers, flagged, never UNKNOWN_TENANT.
        await Check("projects");
        await WaitUntil(() => Task.FromResult(_source.Requests.Count >= 2));
        var kept = await Check("projects");
        Assert.True(kept.Allowed);
        Assert.Equal(7, kept.SnapshotVersion);
        Assert.True(kept.Fallback);

        Assert.False(_cache.Apply(TestData.Snapshot(_tenant, 7))); // the heal re-publishes the same version: confirmed, not replaced
        Assert.False((await Check("projects")).Fallback);
    }

    [Fact]
    public async Task UsageStoreDown_MeteredCheck_FailClosedDenies_FailOpenAllowsWhatFitsTheLimit()
    {
        await Check("projects");
        _usage.Unreachable = true;

        var closed = await Check("api_calls", 1);
        var open = await Check("searches", 5);
        var tooMany = await Check("searches", 6);
        var boolean = await Check("projects");

        Assert.Equal(DecisionReason.FallbackDenied, closed.Reason);
        Assert.Equal(FallbackCause.UsageUnavailable, closed.FallbackCause);
        Assert.True(open.Allowed);
        Assert.Equal(FallbackCause.UsageUnavailable, open.FallbackCause);
        Assert.Equal(0, open.Used);
        Assert.Equal(DecisionReason.LimitExceeded, tooMany.Reason);
        Assert.False(boolean.Fallback); // boolean checks need no counter
    }

    [Fact]
    public async Task CountersRebuilding_MeteredChecksByPolicy_RecordUsageUnavailableAndNothingCounted()
    {
        _usage.Rebuilding = true;

        var check = await Check("api_calls");
        var e = await Assert.ThrowsAsync<RpcException>(() => _service.RecordUsageAsync(
            new RecordUsageRequest { TenantId = _tenant, FeatureKey = "api_calls", Quantity = 1, EventId = "e1" }, TestData.Context()).AsTask());

        Assert.Equal(DecisionReason.FallbackDenied, check.Reason);
        Assert.Equal(FallbackCause.CountersRebuilding, check.FallbackCause);
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Equal(StoreFailureInterceptor.RebuildingDetail, e.Status.Detail);
        Assert.Empty(_usage.Records);
    }

    [Fact]
    public async Task MinSnapshotVersion_NewerInRedis_LoadedBeforeDeciding()
    {
        Assert.Equal(7, (await Check("projects")).SnapshotVersion);
        _source.Put(TestData.Snapshot(_tenant, 8));

        Assert.Equal(7, (await Check("projects")).SnapshotVersion); // without the field: the cached snapshot answers
        Assert.Equal(8, (await Check("projects", minVersion: 8)).SnapshotVersion);
        Assert.Equal(8, (await Check("projects")).SnapshotVersion);
    }

    [Fact]
    public async Task MinSnapshotVersion_ArrivesByInvalidationDuringTheWait_Answered()
    {
        var options = new SidecarOptions { MaxVersionWait = TimeSpan.FromMinutes(1) };
        var cache = new SnapshotCache(_source, options, _time);
        var service = new ServiceUnderTest(cache, _usage, options, _time);
        var waiting = service.CheckEntitlementAsync(
            new CheckEntitlementRequest { TenantId = _tenant, FeatureKey = "projects", MinSnapshotVersion = 9 }, TestData.Context()).AsTask();
        await WaitUntil(() => Task.FromResult(_source.Requests.Count >= 1));
        Assert.False(waiting.IsCompleted);

        cache.Apply(TestData.Snapshot(_tenant, 9));

        Assert.Equal(9, (await waiting).SnapshotVersion);
    }

    [Fact]
    public async Task MinSnapshotVersion_WaitEndsBeforeTheCallsDeadline_FailedPreconditionNotDeadlineExceeded()
    {
        // ED_SIDECAR_MAX_VERSION_WAIT_MS far beyond the deadline: the wait is cut to half of the 100 s the call has left.
        var options = new SidecarOptions { MaxVersionWait = TimeSpan.FromMinutes(10) };
        var service = new ServiceUnderTest(new SnapshotCache(_source, options, _time), _usage, options, _time);
        var context = new TestServerCallContext(TestContext.Current.CancellationToken, DateTime.UtcNow.AddSeconds(100));
        var waiting = service.CheckEntitlementAsync(
            new CheckEntitlementRequest { TenantId = _tenant, FeatureKey = "projects", MinSnapshotVersion = 9 }, context).AsTask();
        await WaitUntil(() => Task.FromResult(_source.Requests.Count >= 1));

        // Step the clock by the poll interval: each step lets the wait poll once more, until its budget is spent.
        var stepped = TimeSpan.Zero;
        while (!waiting.IsCompleted && stepped < TimeSpan.FromSeconds(120))
        {
            var polls = _source.Requests.Count;
            _time.Advance(TimeSpan.FromSeconds(1));
            stepped += TimeSpan.FromSeconds(1);
            for (var i = 0; i < 50 && !waiting.IsCompleted && _source.Requests.Count == polls; i++)
            {
                await Task.Delay(10, TestContext.Current.CancellationToken); // a step taken before the next poll armed its timer is lost
            }
        }

        Assert.True(waiting.IsCompleted, "still waiting after 120 s of a 100 s deadline");
        var e = await Assert.ThrowsAsync<RpcException>(() => waiting);
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.InRange(stepped, TimeSpan.FromSeconds(40), TimeSpan.FromSeconds(60)); // ~50 s, not the 10 minutes configured
    }

    [Fact]
    public async Task MinSnapshotVersion_NotReached_FailedPreconditionNamingTheHeldVersion()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => Check("projects", minVersion: 10));

        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("snapshot version 10 not reached", e.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("holds version 7", e.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MinSnapshotVersion_Negative_InvalidArgument()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => Check("projects", minVersion: -1));

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("min_snapshot_version must be >= 0", e.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MinSnapshotVersion_InABatch_EachCheckWaitsForItsOwn()
    {
        _source.Put(TestData.Snapshot(_tenant, 8));
        await Check("projects"); // caches 8
        var request = new CheckEntitlementsRequest();
        request.Checks.Add(new CheckEntitlementRequest { TenantId = _tenant, FeatureKey = "projects", MinSnapshotVersion = 8 });
        request.Checks.Add(new CheckEntitlementRequest { TenantId = _tenant, FeatureKey = "projects", MinSnapshotVersion = 9 });

        var e = await Assert.ThrowsAsync<RpcException>(() => _service.CheckEntitlementsAsync(request, TestData.Context()).AsTask());

        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
    }

    // Background revalidations run on the thread pool: poll for their effect (bounded; the fake clock stands still).
    private static async Task WaitUntil(Func<Task<bool>> condition)
    {
        for (var i = 0; i < 500 && !await condition(); i++)
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        Assert.True(await condition());
    }
}
