using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Engine.Usage;
using Grpc.Core;
using Google.Protobuf.WellKnownTypes;
using FeatureGrant = EntitlementDecision.Engine.Snapshots.FeatureGrant;
using FeatureKind = EntitlementDecision.Engine.Catalog.FeatureKind;
using LimitMode = EntitlementDecision.Engine.Catalog.LimitMode;
using ResetPeriod = EntitlementDecision.Engine.Catalog.ResetPeriod;
using SubscriptionState = EntitlementDecision.Engine.Snapshots.SubscriptionState;

namespace EntitlementDecision.Sidecar.Tests;

/// <summary>RecordUsage's schema fields, limit modes and billing periods, and metered checks per limit mode, through the handlers.</summary>
public sealed class UsagePathTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);
    private const string TraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    private static readonly string Digest = "sha256:" + new string('c', 64);
    private readonly DictionarySource _source = new();
    private readonly FakeUsageCounter _usage = new();
    private readonly ServiceUnderTest _service;
    private readonly string _tenant = TestData.NewTenant();

    public UsagePathTests()
    {
        _service = new ServiceUnderTest(_source, _usage, new SidecarOptions(), new FakeTimeProvider(Now));
        _source.Put(SnapshotBuilder.For(_tenant)
            .WithVersion(3)
            .WithPeriod(new DateTimeOffset(2026, 11, 5, 9, 30, 0, TimeSpan.Zero), new DateTimeOffset(2026, 12, 5, 9, 30, 0, TimeSpan.Zero))
            .WithGeneratedAt(Now)
            .WithMetered("api_calls", 10, ResetPeriod.Month, unit: "call")
            .WithMetered("exports", 3, ResetPeriod.Day, LimitMode.Soft, "export")
            .WithMetered("compute_minutes", 100, ResetPeriod.BillingPeriod, LimitMode.ReportOnly, "minute")
            .Build());
    }

    private RecordUsageRequest Usage(string feature = "api_calls", long quantity = 1, string unit = "") => new()
    {
        TenantId = _tenant,
        FeatureKey = feature,
        Quantity = quantity,
        EventId = Guid.NewGuid().ToString("N"),
        Service = "api-gateway",
        Unit = unit,
        RequestId = "req-42",
        TraceId = TraceId,
        SourceDigest = Digest,
    };

    private static async Task<RpcException> Rejects(Func<ValueTask> call, string detailPart)
    {
        var e = await Assert.ThrowsAsync<RpcException>(async () => await call());
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains(detailPart, e.Status.Detail, StringComparison.Ordinal);
        return e;
    }

    [Fact]
    public async Task SchemaFields_ReachTheCounterNormalized()
    {
        var response = await _service.RecordUsageAsync(Usage(unit: "call"), TestData.Context());

        Assert.True(response.Accepted);
        var command = Assert.Single(_usage.Records);
        Assert.Equal(
            ("production", "api-gateway", "call", "req-42", TraceId, Digest, (DateTimeOffset?)Now),
            (command.Event.Environment, command.Event.Service, command.Event.Unit, command.Event.RequestId, command.Event.TraceId, command.Event.SourceDigest, command.Event.Timestamp));
        Assert.Equal((UsageOrigin.Grpc, "call", LimitMode.Hard, 10L), (command.Origin, command.Unit, command.LimitMode, command.Limit));
        Assert.Equal(Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero)), response.WindowEnd);
    }

    [Fact]
    public async Task NoServiceAndNoUnit_RecordedAsUnknownWithTheCatalogUnit()
    {
        var request = Usage();
        request.Service = "";

        await _service.RecordUsageAsync(request, TestData.Context());

        var command = Assert.Single(_usage.Records);
        Assert.Equal(("unknown", "", "call"), (command.Event.Service, command.Event.Unit, command.Unit));
    }

    [Fact]
    public async Task OtherUnit_InvalidArgumentAndNothingRecorded()
    {
        await Rejects(async () => await _service.RecordUsageAsync(Usage(unit: "request"), TestData.Context()), "unit 'request' is not the unit of 'api_calls' ('call')");
        Assert.Empty(_usage.Records);
    }

    [Theory]
    [InlineData("trace_id")]
    [InlineData("source_digest")]
    [InlineData("request_id")]
    [InlineData("service")]
    public async Task MalformedSchemaField_InvalidArgumentNamingIt(string field)
    {
        var request = Usage();
        switch (field)
        {
            case "trace_id": request.TraceId = "xyz"; break;
            case "source_digest": request.SourceDigest = "abc"; break;
            case "request_id": request.RequestId = "has space"; break;
            default: request.Service = "api gateway"; break;
        }

        await Rejects(async () => await _service.RecordUsageAsync(request, TestData.Context()), field);
        Assert.Empty(_usage.Records);
        Assert.Empty(_source.Requests);
    }

    [Fact]
    public async Task SoftLimit_AcceptedWithOverLimitAndOverage()
    {
        var within = await _service.RecordUsageAsync(Usage("exports", 2), TestData.Context());
        var over = await _service.RecordUsageAsync(Usage("exports", 3), TestData.Context());

        Assert.Equal((true, false, 0L), (within.Accepted, within.OverLimit, within.Overage));
        Assert.Equal((true, DecisionReason.Granted, true, 2L, 5L, 0L), (over.Accepted, over.Reason, over.OverLimit, over.Overage, over.Used, over.Remaining));
    }

    [Fact]
    public async Task ReportOnly_NeverDenied()
    {
        var response = await _service.RecordUsageAsync(Usage("compute_minutes", 500), TestData.Context());

        Assert.Equal((true, true, 0L, 500L), (response.Accepted, response.OverLimit, response.Overage, response.Used));
    }

    [Fact]
    public async Task HardLimit_DeniedAndSaysOverLimit()
    {
        var response = await _service.RecordUsageAsync(Usage("api_calls", 11), TestData.Context());

        Assert.Equal((false, DecisionReason.LimitExceeded, true, 0L), (response.Accepted, response.Reason, response.OverLimit, response.Used));
    }

    [Fact]
    public async Task BillingPeriodFeature_CountsInTheSubscriptionPeriod()
    {
        var response = await _service.RecordUsageAsync(Usage("compute_minutes", 5), TestData.Context());

        Assert.Equal("b20261105093000", Assert.Single(_usage.Records).Window.Key);
        Assert.Equal(Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 12, 5, 9, 30, 0, TimeSpan.Zero)), response.WindowEnd);
    }

    [Fact]
    public async Task CoverageReject_AnswerUndeclaredUsage()
    {
        _usage.Declared = ["exporter|exports"];
        _usage.RejectUndeclared = true;

        var response = await _service.RecordUsageAsync(Usage(), TestData.Context());

        Assert.Equal((false, DecisionReason.UndeclaredUsage, true, 0L), (response.Accepted, response.Reason, response.Undeclared, response.Used));
    }

    [Fact]
    public async Task CoverageWarn_AcceptedAndFlagged()
    {
        _usage.Declared = ["exporter|exports"];

        var response = await _service.RecordUsageAsync(Usage(), TestData.Context());

        Assert.Equal((true, true), (response.Accepted, response.Undeclared));
    }

    private CheckEntitlementRequest Check(string feature, long quantity) => new() { TenantId = _tenant, FeatureKey = feature, RequestedQuantity = quantity };

    [Fact]
    public async Task CheckSoftLimit_AllowedButSaysOverAndNothingCounted()
    {
        await _service.RecordUsageAsync(Usage("exports", 2), TestData.Context());

        var fits = await _service.CheckEntitlementAsync(Check("exports", 1), TestData.Context());
        var over = await _service.CheckEntitlementAsync(Check("exports", 4), TestData.Context());

        Assert.Equal((true, false, 0L, Contracts.V1.LimitMode.Soft), (fits.Allowed, fits.OverLimit, fits.Overage, fits.LimitMode));
        Assert.Equal((true, DecisionReason.Granted, true, 3L, 1L), (over.Allowed, over.Reason, over.OverLimit, over.Overage, over.Remaining));
        Assert.Single(_usage.Records);
    }

    [Fact]
    public async Task CheckHardLimit_DeniedWithOverage()
    {
        var over = await _service.CheckEntitlementAsync(Check("api_calls", 12), TestData.Context());

        Assert.Equal((false, DecisionReason.LimitExceeded, true, 2L, Contracts.V1.LimitMode.Hard), (over.Allowed, over.Reason, over.OverLimit, over.Overage, over.LimitMode));
    }

    [Fact]
    public async Task CheckReportOnlyBillingPeriod_AllowedWithPeriodEnd()
    {
        var over = await _service.CheckEntitlementAsync(Check("compute_minutes", 150), TestData.Context());

        Assert.Equal((true, true, 50L, Contracts.V1.LimitMode.ReportOnly), (over.Allowed, over.OverLimit, over.Overage, over.LimitMode));
        Assert.Equal(Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 12, 5, 9, 30, 0, TimeSpan.Zero)), over.ResetsAt);
        Assert.Equal("b20261105093000", Assert.Single(_usage.Reads).Window.Key);
    }

    [Fact]
    public async Task RecordUsageResponse_CarriesTheLimitMode()
    {
        var response = await _service.RecordUsageAsync(Usage("exports", 1), TestData.Context());

        Assert.Equal(Contracts.V1.LimitMode.Soft, response.LimitMode);
    }
}
