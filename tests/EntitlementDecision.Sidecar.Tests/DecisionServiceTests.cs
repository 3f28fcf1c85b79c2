using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;
using Grpc.Core;
using Google.Protobuf.WellKnownTypes;
using AccessMode = EntitlementDecision.Contracts.V1.AccessMode;
using ResetPeriod = EntitlementDecision.Engine.Catalog.ResetPeriod;

namespace EntitlementDecision.Sidecar.Tests;

public sealed class DecisionServiceTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 30, 23, 59, 59, TimeSpan.Zero);
    private readonly DictionarySource _source = new();
    private readonly FakeUsageCounter _usage = new();
    private readonly FakeTimeProvider _time = new(Now);
    private readonly SidecarOptions _options = new() { MaxClockSkew = TimeSpan.FromMinutes(5) };
    private readonly ServiceUnderTest _service;
    private readonly string _tenant = TestData.NewTenant();

    public DecisionServiceTests()
    {
        _service = new ServiceUnderTest(_source, _usage, _options, _time);
        _source.Put(TestData.Snapshot(_tenant, 7));
    }

    private CheckEntitlementRequest Check(string feature = "projects", long quantity = 0, string environment = "", string? tenant = null) =>
        new() { TenantId = tenant ?? _tenant, Environment = environment, FeatureKey = feature, RequestedQuantity = quantity };

    private RecordUsageRequest Usage(string feature = "api_calls", long quantity = 1, string? eventId = null, DateTimeOffset? at = null) => new()
    {
        TenantId = _tenant,
        FeatureKey = feature,
        Quantity = quantity,
        EventId = eventId ?? Guid.NewGuid().ToString("N"),
        Timestamp = at is { } t ? Timestamp.FromDateTimeOffset(t) : null,
    };

    private async Task<RpcException> Rejects(Func<ValueTask> call, StatusCode status, string detailPart)
    {
        var e = await Assert.ThrowsAsync<RpcException>(async () => await call());
        Assert.Equal(status, e.StatusCode);
        Assert.Contains(detailPart, e.Status.Detail, StringComparison.Ordinal);
        return e;
    }

    private Task<RpcException> RejectsCheck(CheckEntitlementRequest request, string detailPart) =>
        Rejects(async () => await _service.CheckEntitlementAsync(request, TestData.Context()), StatusCode.InvalidArgument, detailPart);

    [Theory]
    [InlineData("", "projects", 0L, "tenant_id must not be empty")]
    [InlineData("t1", "", 0L, "feature_key must not be empty")]
    [InlineData("t1", "projects", -1L, "requested_quantity must be >= 0")]
    [InlineData("t 1", "projects", 0L, "tenant_id may contain only")]
    [InlineData("t:1", "projects", 0L, "tenant_id may contain only")]
    [InlineData("t{1}", "projects", 0L, "tenant_id may contain only")]
    [InlineData("tenant\u00e9", "projects", 0L, "tenant_id may contain only")]
    [InlineData("t1", "api/calls", 0L, "feature_key may contain only")]
    [InlineData("t1", "projects\n", 0L, "feature_key may contain only")]
    public async Task InvalidCheck_InvalidArgumentNamingField(string tenant, string feature, long quantity, string detail)
    {
        await RejectsCheck(Check(feature, quantity, tenant: tenant), detail);
        Assert.Empty(_source.Requests);
    }

    [Fact]
    public async Task TooLongIdentifiers_InvalidArgument()
    {
        await RejectsCheck(Check(tenant: new string('a', 129)), "tenant_id must be at most 128");
        await RejectsCheck(Check(environment: new string('e', 65)), "environment must be at most 64");
        await RejectsCheck(Check(environment: "prod:eu"), "environment may contain only");
    }

    [Fact]
    public async Task MaxLengthIdentifiers_Accepted()
    {
        var response = await _service.CheckEntitlementAsync(Check(tenant: new string('a', 128), environment: new string('e', 64)), TestData.Context());

        Assert.Equal(DecisionReason.UnknownTenant, response.Reason);
    }

    [Fact]
    public async Task EmptyEnvironment_DefaultsToProduction()
    {
        var response = await _service.CheckEntitlementAsync(Check(), TestData.Context());

        Assert.True(response.Allowed);
        Assert.Equal(7, response.SnapshotVersion);
        Assert.Equal((_tenant, "production"), Assert.Single(_source.Requests));
    }

    [Fact]
    public async Task OtherEnvironment_AskedAsGiven()
    {
        var response = await _service.CheckEntitlementAsync(Check(environment: "staging"), TestData.Context());

        Assert.Equal(DecisionReason.UnknownTenant, response.Reason);
        Assert.Equal((_tenant, "staging"), Assert.Single(_source.Requests));
    }

    [Fact]
    public async Task MeteredCheck_UsageOfCurrentWindowAndResetsAt()
    {
        var window = QuotaWindow.For(ResetPeriod.Month, Now);
        _usage.Set(_tenant, "production", "api_calls", window, 8);

        var fits = await _service.CheckEntitlementAsync(Check("api_calls", 2), TestData.Context());
        var over = await _service.CheckEntitlementAsync(Check("api_calls", 3), TestData.Context());

        Assert.True(fits.Allowed);
        Assert.Equal((true, 10L, 8L, 2L), (fits.Metered, fits.Limit, fits.Used, fits.Remaining));
        Assert.Equal(Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero)), fits.ResetsAt);
        Assert.False(over.Allowed);
        Assert.Equal(DecisionReason.LimitExceeded, over.Reason);
        Assert.All(_usage.Reads, r => Assert.Equal(("production", "api_calls", window), r));
    }

    [Fact]
    public async Task FullAccess_ReportedWithoutDeadline()
    {
        var response = await _service.CheckEntitlementAsync(Check("projects"), TestData.Context());

        Assert.Equal(AccessMode.Full, response.AccessMode);
        Assert.Null(response.AccessDeadline);
    }

    [Fact]
    public async Task Dunning_AccessModeAndDeadlineFollowTheClock_ReadOnlyDeniesWritesOnly()
    {
        var graceEnds = Now.AddDays(1);
        var suspendAt = Now.AddDays(12);
        _source.Put(TestData.Snapshot(_tenant, 8, graceEndsAt: graceEnds, suspendAt: suspendAt));

        var grace = await _service.CheckEntitlementAsync(Check("project_edits"), TestData.Context());
        _time.Advance(TimeSpan.FromDays(2));
        var readOnlyWrite = await _service.CheckEntitlementAsync(Check("project_edits"), TestData.Context());
        var readOnlyRead = await _service.CheckEntitlementAsync(Check("projects"), TestData.Context());
        _time.Advance(TimeSpan.FromDays(10));
        var suspended = await _service.CheckEntitlementAsync(Check("projects"), TestData.Context());

        Assert.Equal((true, AccessMode.Grace, Timestamp.FromDateTimeOffset(graceEnds)), (grace.Allowed, grace.AccessMode, grace.AccessDeadline));
        Assert.Equal((false, DecisionReason.ReadOnly, AccessMode.ReadOnly), (readOnlyWrite.Allowed, readOnlyWrite.Reason, readOnlyWrite.AccessMode));
        Assert.Equal(Timestamp.FromDateTimeOffset(suspendAt), readOnlyWrite.AccessDeadline);
        Assert.Equal((true, DecisionReason.Granted, AccessMode.ReadOnly), (readOnlyRead.Allowed, readOnlyRead.Reason, readOnlyRead.AccessMode));
        Assert.Equal((false, DecisionReason.BillingSuspended, AccessMode.Suspended), (suspended.Allowed, suspended.Reason, suspended.AccessMode));
        Assert.Null(suspended.AccessDeadline);
    }

    [Fact]
    public async Task BillingSuspendedMeteredCheck_DeniedWithoutReadingTheCounter()
    {
        _source.Put(TestData.Snapshot(_tenant, 8, graceEndsAt: Now.AddDays(-11), suspendAt: Now.AddDays(-1)));

        var response = await _service.CheckEntitlementAsync(Check("api_calls", 1), TestData.Context());

        Assert.Equal((false, DecisionReason.BillingSuspended), (response.Allowed, response.Reason));
        Assert.Empty(_usage.Reads);
    }

    [Fact]
    public async Task UnknownTenant_AccessModeUnspecified()
    {
        var response = await _service.CheckEntitlementAsync(Check(tenant: TestData.NewTenant()), TestData.Context());

        Assert.Equal(AccessMode.Unspecified, response.AccessMode);
    }

    [Fact]
    public async Task BatchOver100_InvalidArgument()
    {
        var request = new CheckEntitlementsRequest();
        request.Checks.AddRange(Enumerable.Range(0, 101).Select(_ => Check()));

        await Rejects(async () => await _service.CheckEntitlementsAsync(request, TestData.Context()), StatusCode.InvalidArgument, "got 101");
        Assert.Empty(_source.Requests);
    }

    [Fact]
    public async Task EmptyBatch_InvalidArgument()
    {
        await Rejects(async () => await _service.CheckEntitlementsAsync(new CheckEntitlementsRequest(), TestData.Context()), StatusCode.InvalidArgument, "got 0");
    }

    [Fact]
    public async Task BatchOfMeteredChecks_ReadsStartTogether_AnswersInOrder()
    {
        // A slow usage store: each read waits on the gate. All three reads must be under way before any answers
        // (one pipelined burst to Redis, not three round trips in a row).
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _usage.ReadGate = gate;
        var request = new CheckEntitlementsRequest();
        request.Checks.AddRange([Check("api_calls", 1), Check("projects"), Check("exports", 1), Check("events", 1)]);

        var call = _service.CheckEntitlementsAsync(request, TestData.Context()).AsTask();

        Assert.False(call.IsCompleted);
        Assert.Equal(3, _usage.Reads.Count);
        gate.SetResult();
        var response = await call;
        Assert.Equal([(true, 10L), (false, 0L), (true, 3L), (true, -1L)], response.Results.Select(r => (r.Metered, r.Limit)));
        Assert.All(response.Results, r => Assert.True(r.Allowed));
    }

    [Fact]
    public async Task Batch100_AnsweredInOrder()
    {
        var request = new CheckEntitlementsRequest();
        request.Checks.AddRange(Enumerable.Range(0, 100).Select(i => Check(i % 2 == 0 ? "projects" : "sso")));

        var response = await _service.CheckEntitlementsAsync(request, TestData.Context());

        Assert.Equal(100, response.Results.Count);
        Assert.All(response.Results.Where((_, i) => i % 2 == 0), r => Assert.Equal(DecisionReason.Granted, r.Reason));
        Assert.All(response.Results.Where((_, i) => i % 2 == 1), r => Assert.Equal(DecisionReason.SubscriptionInactive, r.Reason));
    }

    [Theory]
    [InlineData(0, "checks[0].tenant_id")]
    [InlineData(7, "checks[7].feature_key")]
    [InlineData(99, "checks[99].requested_quantity")]
    public async Task BatchWithInvalidItem_InvalidArgumentNamingIndexAndNoPartialAnswer(int index, string detail)
    {
        var request = new CheckEntitlementsRequest();
        request.Checks.AddRange(Enumerable.Range(0, 100).Select(_ => Check()));
        request.Checks[index] = detail.EndsWith("tenant_id", StringComparison.Ordinal) ? Check(tenant: "")
            : detail.EndsWith("feature_key", StringComparison.Ordinal) ? Check("bad key")
            : Check(quantity: -5);

        await Rejects(async () => await _service.CheckEntitlementsAsync(request, TestData.Context()), StatusCode.InvalidArgument, detail);
        Assert.Empty(_source.Requests);
    }

    [Fact]
    public async Task SourceUnavailableForUncachedTenant_Unavailable()
    {
        var cache = new SnapshotCache(_source, _options, _time);
        var service = new ServiceUnderTest(cache, _usage, _options, _time);
        _source.Unreachable = true;

        await Rejects(async () => await service.CheckEntitlementAsync(Check(), TestData.Context()), StatusCode.Unavailable, "not cached");
        await Rejects(async () => await service.RecordUsageAsync(Usage(), TestData.Context()), StatusCode.Unavailable, "not cached");
    }

    [Fact]
    public async Task SourceUnavailableForCachedTenant_StillAnswers()
    {
        var cache = new SnapshotCache(_source, _options, _time);
        var service = new ServiceUnderTest(cache, _usage, _options, _time);
        await service.CheckEntitlementAsync(Check(), TestData.Context());
        _source.Unreachable = true;
        cache.MarkAllStale();

        var response = await service.CheckEntitlementAsync(Check(), TestData.Context());

        Assert.True(response.Allowed);
        Assert.Equal(7, response.SnapshotVersion);
    }


    [Fact]
    public async Task RecordUsageOnBooleanFeature_InvalidArgument()
    {
        await Rejects(async () => await _service.RecordUsageAsync(Usage("projects"), TestData.Context()), StatusCode.InvalidArgument, "not metered");
        Assert.Empty(_usage.Records);
    }

    [Theory]
    [InlineData("sso", DecisionReason.SubscriptionInactive)]
    [InlineData("nope", DecisionReason.NotInPlan)]
    public async Task RecordUsageOnFeatureNotGranted_NotAccepted(string feature, DecisionReason reason)
    {
        var response = await _service.RecordUsageAsync(Usage(feature), TestData.Context());

        Assert.False(response.Accepted);
        Assert.Equal(reason, response.Reason);
        Assert.Empty(_usage.Records);
    }

    [Fact]
    public async Task RecordUsageForUnknownTenant_NotAcceptedUnknownTenant()
    {
        var request = Usage();
        request.TenantId = TestData.NewTenant();

        var response = await _service.RecordUsageAsync(request, TestData.Context());

        Assert.False(response.Accepted);
        Assert.Equal(DecisionReason.UnknownTenant, response.Reason);
    }

    [Fact]
    public async Task RecordUsageTimestampTooFarInFuture_InvalidArgument()
    {
        await Rejects(async () => await _service.RecordUsageAsync(Usage(at: Now + TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(1)), TestData.Context()), StatusCode.InvalidArgument, "in the future");
        Assert.Empty(_usage.Records);
    }

    [Fact]
    public async Task RecordUsageTimestampAtMaxSkew_CountedInTimestampWindow()
    {
        // Now is 23:59:59 on Nov 30: a timestamp 5 minutes ahead falls in December's window.
        var at = Now + TimeSpan.FromMinutes(5);

        var response = await _service.RecordUsageAsync(Usage(at: at), TestData.Context());

        Assert.True(response.Accepted);
        Assert.Equal("m202612", Assert.Single(_usage.Records).Window.Key);
    }

    [Fact]
    public async Task RecordUsageWithoutTimestamp_CountedNowWithLimit()
    {
        var first = await _service.RecordUsageAsync(Usage(quantity: 4, eventId: "evt-1"), TestData.Context());
        var duplicate = await _service.RecordUsageAsync(Usage(quantity: 4, eventId: "evt-1"), TestData.Context());
        var over = await _service.RecordUsageAsync(Usage(quantity: 7, eventId: "evt-2"), TestData.Context());

        Assert.Equal((true, false, DecisionReason.Granted, 4L, 10L, 6L), (first.Accepted, first.Duplicate, first.Reason, first.Used, first.Limit, first.Remaining));
        Assert.Equal((true, true, 4L), (duplicate.Accepted, duplicate.Duplicate, duplicate.Used));
        Assert.Equal((false, DecisionReason.LimitExceeded, 4L, 6L), (over.Accepted, over.Reason, over.Used, over.Remaining));
        Assert.All(_usage.Records, r => Assert.Equal(("api_calls", "m202611", 10L), (r.Event.FeatureKey, r.Window.Key, r.Limit)));
    }

    [Fact]
    public async Task RecordUsageUnlimited_CountedWithMinusOne()
    {
        var response = await _service.RecordUsageAsync(Usage("events", quantity: 1000), TestData.Context());

        Assert.True(response.Accepted);
        Assert.Equal((-1L, -1L, 1000L), (response.Limit, response.Remaining, response.Used));
    }

    [Theory]
    [InlineData(0L, "evt", "quantity must be > 0")]
    [InlineData(-1L, "evt", "quantity must be > 0")]
    [InlineData(1L, "", "event_id must be 1..128")]
    [InlineData(1L, "evt 1", "event_id must be printable ASCII")]
    public async Task InvalidRecordUsage_InvalidArgument(long quantity, string eventId, string detail)
    {
        await Rejects(async () => await _service.RecordUsageAsync(Usage(quantity: quantity, eventId: eventId), TestData.Context()), StatusCode.InvalidArgument, detail);
        Assert.Empty(_usage.Records);
    }

    [Fact]
    public async Task RecordUsageInvalidTimestamp_InvalidArgument()
    {
        var request = Usage();
        request.Timestamp = new Timestamp { Seconds = long.MaxValue };

        await Rejects(async () => await _service.RecordUsageAsync(request, TestData.Context()), StatusCode.InvalidArgument, "timestamp");
        Assert.Empty(_usage.Records);
    }

    [Fact]
    public async Task SuspendedTenantRecordUsage_NotAcceptedSuspended()
    {
        _source.Put(TestData.Snapshot(_tenant, 8, suspended: true));

        var response = await _service.RecordUsageAsync(Usage(), TestData.Context());

        Assert.False(response.Accepted);
        Assert.Equal(DecisionReason.TenantSuspended, response.Reason);
        Assert.Empty(_usage.Records);
    }
}
