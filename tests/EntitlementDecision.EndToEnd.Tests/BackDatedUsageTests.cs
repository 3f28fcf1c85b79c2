using EntitlementDecision.Contracts.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace EntitlementDecision.EndToEnd.Tests;

/// <summary>
/// Back-dated RecordUsage at the running sidecar (free plan: exports, hard limit 3 a day): older than 35 days is INVALID_ARGUMENT and
/// counts nothing; within 35 days it counts against its own day's limit; today's checks with requested_quantity see only today.
/// Times derive from the clock, so the test means the same on any date.
/// </summary>
public sealed class BackDatedUsageTests(RunningSystem system) : IClassFixture<RunningSystem>
{
    private RecordUsageRequest Export(string tenant, DateTimeOffset at) => new()
    {
        TenantId = tenant,
        FeatureKey = "exports",
        Quantity = 1,
        EventId = Guid.NewGuid().ToString("N"),
        Timestamp = Timestamp.FromDateTimeOffset(at),
        Service = "e2e",
    };

    [Fact]
    public async Task SixtyDaysOld_InvalidArgument_TenDaysOld_HeldToThatDaysLimit_TodayUntouched()
    {
        var tenant = RunningSystem.NewTenantId();
        await system.CreateTenantAsync(tenant);
        var (known, after) = await system.WaitForAnswerAsync(tenant, "exports", a => a.Reason != DecisionReason.UnknownTenant, RunningSystem.FunctionalDeadline);
        Assert.True(after is not null, $"the sidecar never learned of the new tenant: {known}");
        var now = DateTimeOffset.UtcNow;

        var tooOld = 0;
        for (var i = 0; i < 10; i++)
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => system.Sidecar.RecordUsageAsync(Export(tenant, now.AddDays(-60)), TestContext.Current.CancellationToken));
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.Contains("timestamp", e.Status.Detail, StringComparison.Ordinal);
            tooOld++;
        }

        var accepted = 0;
        var denied = 0;
        for (var i = 0; i < 10; i++)
        {
            var r = await system.RecordUsageAsync(Export(tenant, now.AddDays(-10)));
            if (r.Accepted)
            {
                accepted++;
            }
            else
            {
                Assert.Equal(DecisionReason.LimitExceeded, r.Reason);
                denied++;
            }
        }

        Assert.Equal((10, 3, 7), (tooOld, accepted, denied));
        // Today's window saw none of it: the full daily limit of 3 is left, and 4 does not fit.
        var fits = await system.CheckAsync(tenant, "exports", requestedQuantity: 3);
        Assert.Equal((true, 0L, 3L), (fits.Allowed, fits.Used, fits.Remaining));
        var over = await system.CheckAsync(tenant, "exports", requestedQuantity: 4);
        Assert.Equal((false, DecisionReason.LimitExceeded), (over.Allowed, over.Reason));
    }
}
