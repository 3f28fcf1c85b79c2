using EntitlementDecision.Engine;
using StackExchange.Redis;

namespace EntitlementDecision.Redis.Tests;

/// <summary>Reads a test's own usage streams (XRANGE over every shard).</summary>
internal static class UsageStreamReader
{
    /// <summary>Fresh stream, coverage and generation-marker keys for one test, so tests can run side by side on one Redis.
    /// Every shard's marker is written (as the control plane's healer does) unless <paramref name="healed"/> is false.</summary>
    public static UsageStreamKeys NewKeys(bool healed = true)
    {
        var keys = new UsageStreamKeys($"test:{Guid.NewGuid():N}");
        if (healed)
        {
            var db = TestRedis.Connection.GetDatabase();
            foreach (var marker in keys.AllGenerations)
            {
                db.StringSet(marker, "{}", TimeSpan.FromHours(1));
            }
        }

        return keys;
    }

    /// <summary>The shard of a tenant in the "production" environment.</summary>
    public static int Shard(string tenant) => RedisKeys.ShardOf(new TenantKey("production", tenant));

    /// <summary>Every usage event entry of <paramref name="keys"/>, shard by shard, each shard oldest first, as (ledger id, field → value).</summary>
    public static Task<List<(string Id, Dictionary<string, string> Fields)>> EventsAsync(UsageStreamKeys keys) => ReadShardsAsync(keys.Events);

    /// <summary>How many of the retired overage streams of <paramref name="keys"/> exist (the usage script must write none).
    /// One EXISTS per key: they are in different cluster slots.</summary>
    public static async Task<long> RetiredOverageKeysAsync(UsageStreamKeys keys) =>
        (await Task.WhenAll(keys.AllRetiredOverages.Select(k => TestRedis.Connection.GetDatabase().KeyExistsAsync(k)))).Count(e => e);

    private static async Task<List<(string Id, Dictionary<string, string> Fields)>> ReadShardsAsync(Func<int, string> key)
    {
        var all = new List<(string Id, Dictionary<string, string> Fields)>();
        for (var shard = 0; shard < RedisKeys.Shards; shard++)
        {
            var entries = await TestRedis.Connection.GetDatabase().StreamRangeAsync(key(shard));
            all.AddRange(entries.Select(e => (UsageStreamConsumer.LedgerId(shard, e.Id.ToString()),
                e.Values.ToDictionary(v => v.Name.ToString(), v => v.Value.ToString(), StringComparer.Ordinal))));
        }

        return all;
    }

    /// <summary>Writes the coverage declarations the control plane writes at start-up (every shard's copy).</summary>
    public static async Task DeclareAsync(UsageStreamKeys keys, string mode, params string[] serviceFeaturePairs)
    {
        var db = TestRedis.Connection.GetDatabase();
        for (var shard = 0; shard < RedisKeys.Shards; shard++)
        {
            await db.HashSetAsync(keys.Coverage(shard), UsageStreamKeys.CoverageModeField, mode);
            foreach (var pair in serviceFeaturePairs)
            {
                await db.HashSetAsync(keys.Coverage(shard), pair, "1");
            }
        }
    }
}
