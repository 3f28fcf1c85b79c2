using System.Net;
using System.Text.Json.Nodes;
using EntitlementDecision.ControlPlane.Healing;
using EntitlementDecision.ControlPlane.Tests.Metering;
using EntitlementDecision.Engine;
using EntitlementDecision.Redis;

namespace EntitlementDecision.ControlPlane.Tests;

public sealed class RedisHealingFixture() : MeteringFixture(15)
{
    protected override void Configure(Dictionary<string, string?> settings) => settings["ED_REDIS_HEAL"] = "on";

    protected override bool HealsRedis => true;
}

/// <summary>Redis flushed under a running control plane: the healer refills it from PostgreSQL with no webhook and no operator.</summary>
public sealed class RedisHealingTests(RedisHealingFixture fx) : IClassFixture<RedisHealingFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task FlushedRedis_GetsItsSnapshotsCoverageAndMarkerBack_WithinSeconds()
    {
        var tenant = await fx.Host.CreateTenantAsync();
        var store = new RedisSnapshotStore(fx.Redis);
        await WaitAsync(async () => await MarkersBackAsync() && await store.GetAsync(new TenantKey("production", tenant), Ct) is not null);

        var now = DateTimeOffset.UtcNow;
        for (var i = 0; i < 5; i++)
        {
            await fx.XAddAsync(MeteringFixture.Entry(tenant, $"e{i}", "api_calls", i + 1, now.AddMinutes(-i), window: $"m{now:yyyyMM}"));
        }

        await fx.PumpAsync(); // the ledger now holds 15 api_calls for the tenant

        await fx.RedisDb.ExecuteAsync("FLUSHDB");
        var flushed = DateTimeOffset.UtcNow;
        // No assertion that the snapshot is gone: a heal pass may already be refilling it.

        await WaitAsync(async () => await MarkersBackAsync());
        var snapshot = await store.GetAsync(new TenantKey("production", tenant), Ct);
        Assert.NotNull(snapshot);
        Assert.Equal(tenant, snapshot.TenantId);
        Assert.True(await fx.RedisDb.KeyExistsAsync(UsageStreamKeys.Default.Coverage(RedisKeys.Shards - 1)), "coverage declarations restored");
        var report = JsonNode.Parse((string)(await fx.RedisDb.StringGetAsync(RedisHealer.MarkerKeys[0]))!)!;
        Assert.True((int)report["snapshots"]! >= 1);
        Assert.True(DateTimeOffset.Parse((string)report["healed_at"]!, System.Globalization.CultureInfo.InvariantCulture) >= flushed.AddSeconds(-1));
        Assert.Equal(HttpStatusCode.OK, (await fx.Host.SendAsync(HttpMethod.Get, "/healthz", null)).Response.StatusCode);

        // Counters and dedupe markers are the ledger's again: what `ledger-check-counters` would report.
        var admin = new UsageCounterAdmin(fx.Redis);
        Assert.Equal([15L], await admin.GetCountersAsync([new UsageCounterValue("production", tenant, "api_calls", $"m{now:yyyyMM}", 0)]));
        var output = new StringWriter();
        Assert.Equal(0, await fx.MeteringAsync(db => ControlPlane.Metering.MeteringCommands.CheckAsync(db, admin, tenant, now, output, Ct)));
        Assert.All(await admin.HasEventMarkersAsync([("production", tenant, "e0"), ("production", tenant, "e4")]), Assert.True);

        // The ops event: operators see each heal, with its counts, in the platform audit trail.
        var (audit, page) = await fx.Host.SendAsync(HttpMethod.Get, "/tenants/_system/audit?action=redis.healed&limit=1", fx.Host.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, audit.StatusCode);
        var entry = page!["entries"]![0]!;
        Assert.Equal("system:redis-healer", (string)entry["actor"]!);
        Assert.True((int)entry["after"]!["snapshots"]! >= 1);
    }

    [Fact]
    public async Task UntilTheMarkerIsBack_UsageIsRefused_AndNothingCounted()
    {
        var tenant = await fx.Host.CreateTenantAsync();
        var store = new RedisSnapshotStore(fx.Redis);
        await WaitAsync(async () => await MarkersBackAsync() && await store.GetAsync(new TenantKey("production", tenant), Ct) is not null);
        var recorder = new UsageRecorder(fx.Redis);
        var snapshot = await store.GetAsync(new TenantKey("production", tenant), Ct);
        Assert.Null(recorder.Validate(new Engine.Usage.UsageEvent(tenant, "production", "api_calls", 1, "gate-1", Service: "api-gateway"), DateTimeOffset.UtcNow, out var usage));
        // As after losing the node of the tenant's shard, before the healer's next pass: only that shard's marker is gone.
        await fx.RedisDb.KeyDeleteAsync(UsageStreamKeys.Default.Generation(RedisKeys.ShardOf(new TenantKey("production", tenant))));

        var refused = await Assert.ThrowsAsync<Engine.Snapshots.StoreUnavailableException>(async () =>
            await recorder.RecordAsync(snapshot, usage, Engine.Usage.UsageOrigin.Grpc, DateTimeOffset.UtcNow, Ct));

        Assert.Equal(Engine.Snapshots.StoreKind.UsageRebuilding, refused.Store);
        await WaitAsync(async () => await MarkersBackAsync());
        Assert.True((await recorder.RecordAsync(snapshot, usage, Engine.Usage.UsageOrigin.Grpc, DateTimeOffset.UtcNow, Ct)).Accepted);
    }

    private async Task<bool> MarkersBackAsync() =>
        (await Task.WhenAll(RedisHealer.MarkerKeys.Select(key => fx.RedisDb.KeyExistsAsync(key)))).All(present => present);

    // A generous functional deadline (the healer checks every 2 s); how fast healing is belongs to loadtests/.
    private static async Task WaitAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, "not healed within 30 s");
            await Task.Delay(100, Ct);
        }
    }
}
