using EntitlementDecision.ControlPlane.Metering;
using EntitlementDecision.Engine;
using EntitlementDecision.Redis;

namespace EntitlementDecision.ControlPlane.Tests.Metering;

public sealed class CounterRebuildFixture() : MeteringFixture(13);

/// <summary>ledger-rebuild-counters and ledger-check-counters against a Redis that lost its data.</summary>
public sealed class CounterRebuildTests(CounterRebuildFixture fx) : IClassFixture<CounterRebuildFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task FlushedRedis_Rebuild_RestoresCountersAndMarkers_ThatMatchTheLedger_CheckNamesAMismatch()
    {
        var tenant = TestServices.NewTenantId("rb");
        var now = DateTimeOffset.UtcNow;
        var admin = new UsageCounterAdmin(fx.Redis);
        long apiCalls = 0, exports = 0;
        for (var i = 0; i < 10; i++)
        {
            var occurred = now.AddMinutes(-i);
            await fx.XAddAsync(MeteringFixture.Entry(tenant, $"a{i}", "api_calls", i + 1, occurred, window: $"m{now:yyyyMM}"));
            apiCalls += i + 1;
            if (i % 3 == 0)
            {
                await fx.XAddAsync(MeteringFixture.Entry(tenant, $"x{i}", "exports", 2, occurred, window: $"d{now:yyyyMMdd}"));
                exports += 2;
            }
        }

        await fx.XAddAsync(MeteringFixture.Entry(tenant, "over", "api_calls", 500, now, outcome: "limit_exceeded", window: $"m{now:yyyyMM}"));
        await fx.PumpAsync();

        await fx.RedisDb.ExecuteAsync("FLUSHDB");
        var output = new StringWriter();
        Assert.Equal(1, await fx.MeteringAsync(db => MeteringCommands.CheckAsync(db, admin, tenant, now, output, Ct)));
        Assert.Contains("redis missing, ledger", output.ToString(), StringComparison.Ordinal);

        output = new StringWriter();
        Assert.Equal(0, await fx.MeteringAsync(db => MeteringCommands.RebuildAsync(db, admin, tenant, now, output, Ct)));
        Assert.Contains("Rebuilt 2 counter(s) and 14 dedupe marker(s)", output.ToString(), StringComparison.Ordinal);

        var counters = await admin.GetCountersAsync([
            new UsageCounterValue("production", tenant, "api_calls", $"m{now:yyyyMM}", 0),
            new UsageCounterValue("production", tenant, "exports", $"d{now:yyyyMMdd}", 0)]);
        Assert.Equal([apiCalls, exports], counters);
        Assert.All(await admin.HasEventMarkersAsync([("production", tenant, "a0"), ("production", tenant, "x9")]), Assert.True);
        Assert.False((await admin.HasEventMarkersAsync([("production", tenant, "over")]))[0]); // limit_exceeded never kept its id
        Assert.InRange((double)(await fx.RedisDb.KeyTimeToLiveAsync(RedisKeys.UsageEvent(new TenantKey("production", tenant), "a0")))!.Value.TotalDays, 39.9, 40.0);

        output = new StringWriter();
        Assert.Equal(0, await fx.MeteringAsync(db => MeteringCommands.CheckAsync(db, admin, tenant, now, output, Ct)));
        Assert.Equal("2 counter(s) match the ledger", output.ToString().Trim());

        await fx.RedisDb.StringIncrementAsync(RedisKeys.UsageCounter(new TenantKey("production", tenant), "exports", $"d{now:yyyyMMdd}"), 1);
        output = new StringWriter();
        Assert.Equal(1, await fx.MeteringAsync(db => MeteringCommands.CheckAsync(db, admin, tenant, now, output, Ct)));
        Assert.Contains($"MISMATCH {tenant}/production exports window d{now:yyyyMMdd}: redis {exports + 1}, ledger {exports}", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CoveragePublisher_WritesCoverageHash_FromTheCatalog()
    {
        await fx.Service<CoveragePublisher>().PublishAsync();
        var hash = await new UsageCoverageStore(fx.Redis).ReadAsync();
        Assert.Equal(new Dictionary<string, string> { ["__mode"] = "warn", ["api-gateway|api_calls"] = "1", ["exporter|exports"] = "1" }.OrderBy(x => x.Key), hash.OrderBy(x => x.Key));
    }
}
