using EntitlementDecision.Engine.Snapshots;
using StackExchange.Redis;

namespace EntitlementDecision.Redis;

/// <summary>
/// Tenant snapshots in Redis: the control plane writes them with <see cref="PublishAsync"/>, the sidecar reads them with <see cref="GetAsync"/>.
/// A write and its invalidation are one Lua script: the snapshot replaces the stored one only when its version is higher,
/// and only then is it published on the invalidation channel, so readers never see an older version after a newer one.
/// </summary>
public sealed class RedisSnapshotStore(IConnectionMultiplexer redis) : ISnapshotSource
{
    // KEYS[1] snapshot hash; ARGV[1] version, ARGV[2] serialized snapshot, ARGV[3] channel. Returns 1 when written, 0 when stale.
    private const string PublishScript = """
        local current = redis.call('HGET', KEYS[1], 'v')
        if current and tonumber(current) >= tonumber(ARGV[1]) then
          return 0
        end
        redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
        redis.call('PUBLISH', ARGV[3], ARGV[2])
        return 1
        """;

    /// <summary>Reads the stored snapshot; null when none. Throws <see cref="StoreUnavailableException"/> when Redis cannot be reached.</summary>
    public async ValueTask<Snapshot?> GetAsync(string tenantId, string environment, CancellationToken cancellationToken)
    {
        RedisValue data;
        try
        {
            data = await redis.GetDatabase().HashGetAsync(RedisKeys.Snapshot(environment, tenantId), "d").ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            throw new StoreUnavailableException("Redis did not answer the snapshot read", e);
        }

        return data.IsNull ? null : SnapshotCodec.Decode((byte[])data!);
    }

    /// <summary>
    /// Writes <paramref name="snapshot"/> if its version is higher than the stored one and publishes it on the invalidation channel.
    /// Returns true when written, false when Redis already holds this version or a newer one (nothing changes).
    /// Throws <see cref="RedisException"/> or <see cref="TimeoutException"/> when Redis cannot be reached.
    /// </summary>
    public async Task<bool> PublishAsync(Snapshot snapshot)
    {
        var result = await redis.GetDatabase().ScriptEvaluateAsync(
            PublishScript,
            [RedisKeys.Snapshot(snapshot.Environment, snapshot.TenantId)],
            [snapshot.Version, SnapshotCodec.Encode(snapshot), RedisKeys.InvalidationChannel]).ConfigureAwait(false);
        return (int)result == 1;
    }
}
