using StackExchange.Redis;

namespace EntitlementDecision.Redis;

/// <summary>
/// The coverage declarations the usage script reads: one hash per shard, <c>ed:coverage:{tag}</c>, with field
/// "&lt;service&gt;|&lt;feature&gt;" = "1" per declared metric and field "__mode" = "warn" | "reject". <see cref="ReplaceAsync"/> swaps
/// each shard's hash in one script (DEL + HSET), so the usage script never sees a half-written declaration set.
/// </summary>
public sealed class UsageCoverageStore(IConnectionMultiplexer redis, UsageStreamKeys? keys = null)
{
    private readonly UsageStreamKeys _keys = keys ?? UsageStreamKeys.Default;

    private const string ReplaceScript = """
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], unpack(ARGV))
        return #ARGV / 2
        """;

    /// <summary>Replaces the declarations in every shard; <paramref name="mode"/> is "warn" or "reject". Returns the number of fields
    /// written per shard.</summary>
    public async Task<long> ReplaceAsync(IEnumerable<(string Service, string Feature)> declared, string mode)
    {
        var args = new List<RedisValue> { RedisKeys.CoverageModeField, mode };
        foreach (var (service, feature) in declared)
        {
            args.Add(UsageStreamKeys.CoverageField(service, feature));
            args.Add("1");
        }

        var db = redis.GetDatabase();
        var written = await Task.WhenAll(Enumerable.Range(0, RedisKeys.Shards).Select(shard =>
            db.ScriptEvaluateAsync(ReplaceScript, [_keys.Coverage(shard)], args.ToArray()))).ConfigureAwait(false);
        return (long)written[0];
    }

    /// <summary>Shard <paramref name="shard"/>'s hash as stored (field → value).</summary>
    public async Task<Dictionary<string, string>> ReadAsync(int shard = 0)
    {
        var entries = await redis.GetDatabase().HashGetAllAsync(_keys.Coverage(shard)).ConfigureAwait(false);
        return entries.ToDictionary(e => (string)e.Name!, e => (string)e.Value!, StringComparer.Ordinal);
    }
}
