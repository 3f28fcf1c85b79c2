using StackExchange.Redis;

namespace EntitlementDecision.Redis;

/// <summary>
/// The coverage declarations the usage script reads: hash <c>ed:coverage</c> with field "&lt;service&gt;|&lt;feature&gt;" = "1" per declared
/// metric and field "__mode" = "warn" | "reject". <see cref="ReplaceAsync"/> swaps the whole hash in one script (DEL + HSET), so the
/// script never sees a half-written declaration set.
/// </summary>
public sealed class UsageCoverageStore(IConnectionMultiplexer redis, UsageStreamKeys? keys = null)
{
    private readonly string _key = (keys ?? UsageStreamKeys.Default).Coverage;

    private const string ReplaceScript = """
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], unpack(ARGV))
        return #ARGV / 2
        """;

    /// <summary>Replaces the declarations; <paramref name="mode"/> is "warn" or "reject". Returns the number of fields written.</summary>
    public async Task<long> ReplaceAsync(IEnumerable<(string Service, string Feature)> declared, string mode)
    {
        var args = new List<RedisValue> { RedisKeys.CoverageModeField, mode };
        foreach (var (service, feature) in declared)
        {
            args.Add(UsageStreamKeys.CoverageField(service, feature));
            args.Add("1");
        }

        return (long)await redis.GetDatabase().ScriptEvaluateAsync(ReplaceScript, [_key], args.ToArray()).ConfigureAwait(false);
    }

    /// <summary>The hash as stored (field → value).</summary>
    public async Task<Dictionary<string, string>> ReadAsync()
    {
        var entries = await redis.GetDatabase().HashGetAllAsync(_key).ConfigureAwait(false);
        return entries.ToDictionary(e => (string)e.Name!, e => (string)e.Value!, StringComparer.Ordinal);
    }
}
