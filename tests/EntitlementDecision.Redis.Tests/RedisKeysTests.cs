using EntitlementDecision.Engine;

namespace EntitlementDecision.Redis.Tests;

/// <summary>The keyspace's layout for Redis Cluster: shard tags spread over the slots, every key of a tenant in its shard's slot.</summary>
public sealed class RedisKeysTests
{
    [Fact]
    public void ShardTags_EachInItsOwnSixteenthOfTheSlots()
    {
        for (var shard = 0; shard < RedisKeys.Shards; shard++)
        {
            var slot = Slot($"x:{RedisKeys.ShardTag(shard)}:y");
            Assert.InRange(slot, shard * 16384 / RedisKeys.Shards, ((shard + 1) * 16384 / RedisKeys.Shards) - 1);
        }
    }

    [Fact]
    public void EveryKeyOfATenant_SharesOneSlot_WithItsShardsStreamsAndChannel()
    {
        var keys = UsageStreamKeys.Default;
        foreach (var tenant in new[] { "acme", "globex", "t-0001", TestRedis.NewTenant() })
        {
            var shard = RedisKeys.ShardOf(new TenantKey("production", tenant));
            var slot = Slot(RedisKeys.Snapshot(new TenantKey("production", tenant)));
            string[] same =
            [
                RedisKeys.UsageCounter(new TenantKey("production", tenant), "api_calls", "m202612"), RedisKeys.UsageEvent(new TenantKey("production", tenant), "e1"),
                keys.Events(shard), keys.Coverage(shard), keys.Generation(shard), RedisKeys.InvalidationChannel(shard),
            ];
            Assert.All(same, key => Assert.Equal(slot, Slot(key)));
        }
    }

    [Fact]
    public void ShardOf_IsStable_AndSpreadsTenants()
    {
        // Fixed values: the shard of a tenant must never change between versions or processes (FNV-1a, not string.GetHashCode).
        Assert.Equal(6, RedisKeys.ShardOf(new TenantKey("production", "acme")));
        Assert.Equal(10, RedisKeys.ShardOf(new TenantKey("staging", "acme")));
        Assert.Equal(15, RedisKeys.ShardOf(new TenantKey("production", "globex")));
        var counts = new int[RedisKeys.Shards];
        for (var i = 0; i < 1600; i++)
        {
            counts[RedisKeys.ShardOf(new TenantKey("production", $"tenant-{i}"))]++;
        }

        Assert.All(counts, n => Assert.InRange(n, 50, 150));
    }

    [Fact]
    public void TenantKeys_KeepTheStoredFormat()
    {
        // Byte-identical to what Redis already holds: environment before tenant, shard 6's tag for production/acme.
        var acme = new TenantKey("production", "acme");
        Assert.Equal("ed:snap:{ed62}:production:acme", RedisKeys.Snapshot(acme));
        Assert.Equal("ed:use:{ed62}:production:acme:api_calls:m202612", RedisKeys.UsageCounter(acme, "api_calls", "m202612"));
        Assert.Equal("ed:evt:{ed62}:production:acme:e1", RedisKeys.UsageEvent(acme, "e1"));
        Assert.Equal("ed:snap:{ed61}:staging:acme", RedisKeys.Snapshot(acme with { Environment = "staging" }));
    }

    // Redis Cluster's key slot: CRC16-XMODEM of the hash tag (or the key) mod 16384. The client library computes it only on a
    // cluster connection; there (test.sh's cluster run) this oracle is checked against it.
    private static int Slot(string key)
    {
        var open = key.IndexOf('{');
        var close = open < 0 ? -1 : key.IndexOf('}', open + 1);
        var tagged = close > open + 1 ? key[(open + 1)..close] : key;
        var crc = 0;
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(tagged))
        {
            crc ^= b << 8;
            for (var i = 0; i < 8; i++)
            {
                crc = (crc & 0x8000) != 0 ? ((crc << 1) ^ 0x1021) & 0xFFFF : (crc << 1) & 0xFFFF;
            }
        }

        var slot = crc % 16384;
        if (TestRedis.Connection.HashSlot(key) is var library and >= 0)
        {
            Assert.Equal(library, slot);
        }

        return slot;
    }
}
