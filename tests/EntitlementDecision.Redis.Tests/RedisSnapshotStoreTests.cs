using System.Diagnostics;
using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Snapshots;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace EntitlementDecision.Redis.Tests;

public sealed class RedisSnapshotStoreTests
{
    private readonly RedisSnapshotStore _store = new(TestRedis.Connection);

    [Fact]
    public async Task PublishVersions_OnlyHigherVersionsWriteAndGetReturnsNewest()
    {
        var tenant = TestRedis.NewTenant();

        Assert.True(await _store.PublishAsync(TestRedis.Snapshot(tenant, 5, planId: "v5")));
        Assert.False(await _store.PublishAsync(TestRedis.Snapshot(tenant, 5, planId: "v5-again")));
        Assert.False(await _store.PublishAsync(TestRedis.Snapshot(tenant, 4, planId: "v4")));
        Assert.Equal("v5", (await _store.GetAsync(new TenantKey("production", tenant), TestContext.Current.CancellationToken))!.PlanId);

        Assert.True(await _store.PublishAsync(TestRedis.Snapshot(tenant, 6, planId: "v6")));
        var newest = await _store.GetAsync(new TenantKey("production", tenant), TestContext.Current.CancellationToken);

        Assert.Equal(6, newest!.Version);
        Assert.Equal("v6", newest.PlanId);
    }

    [Fact]
    public async Task UnknownTenant_GetReturnsNull()
    {
        Assert.Null(await _store.GetAsync(new TenantKey("production", TestRedis.NewTenant()), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Subscriber_ReceivesPublishedSnapshotsButNotStaleOnes()
    {
        var tenant = TestRedis.NewTenant();
        using var subscriberConnection = TestRedis.Connect();
        var received = new List<long>();
        var gotV2 = new TaskCompletionSource<Snapshot>(TaskCreationOptions.RunContinuationsAsynchronously);
        var gotV3 = new TaskCompletionSource<Snapshot>(TaskCreationOptions.RunContinuationsAsynchronously);
        var subscriber = new RedisInvalidationSubscriber(subscriberConnection, NullLogger<RedisInvalidationSubscriber>.Instance);
        await subscriber.SubscribeAsync(
            s =>
            {
                if (s.TenantId != tenant)
                {
                    return; // other suites publish on the same channel
                }

                lock (received)
                {
                    received.Add(s.Version);
                }

                (s.Version == 2 ? gotV2 : s.Version == 3 ? gotV3 : null)?.TrySetResult(s);
            },
            () => { });

        Assert.True(await _store.PublishAsync(TestRedis.Snapshot(tenant, 2, planId: "two")));
        var v2 = await TestRedis.Within(gotV2.Task, "the v2 invalidation");
        Assert.False(await _store.PublishAsync(TestRedis.Snapshot(tenant, 1)));
        Assert.False(await _store.PublishAsync(TestRedis.Snapshot(tenant, 2)));
        Assert.True(await _store.PublishAsync(TestRedis.Snapshot(tenant, 3)));
        await TestRedis.Within(gotV3.Task, "the v3 invalidation");

        // Pub/sub keeps the publisher's order: had v1 or the second v2 been published, it would have arrived before v3.
        Assert.Equal("two", v2.PlanId);
        lock (received)
        {
            Assert.Equal([2L, 3L], received);
        }
    }

    [Fact]
    public async Task Subscriber_ReceivesInvalidationsOfEveryShard()
    {
        // One tenant per shard: on a Redis Cluster each shard channel lives on the node of its slot (SPUBLISH / SSUBSCRIBE).
        var prefix = TestRedis.NewTenant();
        var tenants = Enumerable.Range(0, 400).Select(i => $"{prefix}-{i}")
            .GroupBy(t => RedisKeys.ShardOf(new TenantKey("production", t))).Select(g => g.First()).ToList();
        Assert.Equal(RedisKeys.Shards, tenants.Count);
        using var subscriberConnection = TestRedis.Connect();
        var pending = new HashSet<string>(tenants, StringComparer.Ordinal);
        var all = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        await new RedisInvalidationSubscriber(subscriberConnection, NullLogger<RedisInvalidationSubscriber>.Instance).SubscribeAsync(
            s =>
            {
                lock (pending)
                {
                    if (pending.Remove(s.TenantId) && pending.Count == 0)
                    {
                        all.TrySetResult(true);
                    }
                }
            },
            () => { });

        foreach (var tenant in tenants)
        {
            Assert.True(await _store.PublishAsync(TestRedis.Snapshot(tenant, 1)));
        }

        await TestRedis.Within(all.Task, "an invalidation from every shard");
    }

    [Fact]
    public async Task UnreachableRedis_GetThrowsStoreUnavailableQuickly()
    {
        var options = new ConfigurationOptions
        {
            EndPoints = { { "127.0.0.1", 1 } },
            AbortOnConnectFail = false,
            ConnectTimeout = 200,
            SyncTimeout = 200,
            ConnectRetry = 1,
        };
        using var unreachable = await ConnectionMultiplexer.ConnectAsync(options);
        var store = new RedisSnapshotStore(unreachable);
        var clock = Stopwatch.StartNew();

        var read = store.GetAsync(new TenantKey("production", TestRedis.NewTenant()), TestContext.Current.CancellationToken).AsTask();
        var e = await Assert.ThrowsAsync<StoreUnavailableException>(() => TestRedis.Within(read, "the failed read"));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.True(e.InnerException is RedisException or TimeoutException);
    }

    [Fact]
    public async Task AbsentSnapshot_WithoutTheGenerationMarker_IsUnavailable_NotUnknown()
    {
        var markers = new UsageStreamKeys($"test:{Guid.NewGuid():N}");
        var store = new RedisSnapshotStore(TestRedis.Connection, markers);
        var tenant = TestRedis.NewTenant();

        var e = await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.GetAsync(new TenantKey("production", tenant), TestContext.Current.CancellationToken));
        Assert.Contains("heal has not finished", e.Message, StringComparison.Ordinal);

        // The marker of the tenant's shard is the one that counts.
        await TestRedis.Connection.GetDatabase().StringSetAsync(markers.Generation(UsageStreamReader.Shard(tenant)), "{}", TimeSpan.FromHours(1));
        Assert.Null(await store.GetAsync(new TenantKey("production", tenant), TestContext.Current.CancellationToken));
    }
}
