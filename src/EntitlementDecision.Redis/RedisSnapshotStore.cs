using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Snapshots;
using StackExchange.Redis;

namespace EntitlementDecision.Redis;

/// <summary>
/// Tenant snapshots in Redis: the control plane writes them with <see cref="PublishAsync"/>, the sidecar reads them with <see cref="GetAsync"/>.
/// A write and its invalidation are one Lua script: the snapshot replaces the stored one only when its version is higher,
/// and only then is it published on the shard's invalidation channel (SPUBLISH: sharded pub/sub, which a Redis Cluster keeps on the
/// slot's node), so readers never see an older version after a newer one.
/// <paramref name="generationMarkers"/> (the sidecar passes <see cref="UsageStreamKeys.Default"/>): an absent snapshot counts as
/// "this tenant has none" only while the healer's generation marker of the tenant's shard exists; without it Redis lost its data
/// and the heal has not finished, so the read throws <see cref="StoreUnavailableException"/> instead of reporting a paying tenant as unknown.
/// </summary>
public sealed class RedisSnapshotStore(IConnectionMultiplexer redis, UsageStreamKeys? generationMarkers = null) : ISnapshotSource
{
    // KEYS[1] snapshot hash; ARGV[1] version, ARGV[2] serialized snapshot, ARGV[3] shard channel (same slot as KEYS[1]).
    // Returns 1 when written, 0 when stale.
    private const string PublishScript = """
        local current = redis.call('HGET', KEYS[1], 'v')
        if current and tonumber(current) >= tonumber(ARGV[1]) then
          return 0
        end
        redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
        redis.call('SPUBLISH', ARGV[3], ARGV[2])
        return 1
        """;

    /// <summary>Reads the stored snapshot; null when none. Throws <see cref="StoreUnavailableException"/> when Redis cannot be reached.</summary>
    public async ValueTask<Snapshot?> GetAsync(TenantKey tenant, CancellationToken cancellationToken)
    {
        RedisValue data;
        try
        {
            data = await redis.GetDatabase().HashGetAsync(RedisKeys.Snapshot(tenant), "d").ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            throw new StoreUnavailableException("Redis did not answer the snapshot read", e);
        }

        if (!data.IsNull)
        {
            return SnapshotCodec.Decode((byte[])data!);
        }

        // Absent tenants only: one more read, so the hot path (a present snapshot) pays nothing.
        if (generationMarkers is not null
            && !await MarkerExistsAsync(generationMarkers.Generation(RedisKeys.ShardOf(tenant))).ConfigureAwait(false))
        {
            throw new StoreUnavailableException("Redis lost its data and the heal has not finished: the tenant's snapshot is not back yet");
        }

        return null;
    }

    private async Task<bool> MarkerExistsAsync(string key)
    {
        try
        {
            return await redis.GetDatabase().KeyExistsAsync(key).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            throw new StoreUnavailableException("Redis did not answer the snapshot read", e);
        }
    }

    /// <summary>
    /// Writes <paramref name="snapshot"/> if its version is higher than the stored one and publishes it on the invalidation channel,
    /// with <paramref name="traceParent"/> (W3C, optional) so that the subscribers' apply joins the publisher's trace.
    /// Returns true when written, false when Redis already holds this version or a newer one (nothing changes).
    /// Throws <see cref="RedisException"/> or <see cref="TimeoutException"/> when Redis cannot be reached.
    /// </summary>
    public async Task<bool> PublishAsync(Snapshot snapshot, string? traceParent = null)
    {
        var result = await redis.GetDatabase().ScriptEvaluateAsync(
            PublishScript,
            [RedisKeys.Snapshot(snapshot.Key)],
            [snapshot.Version, SnapshotCodec.Encode(snapshot, traceParent), RedisKeys.InvalidationChannel(RedisKeys.ShardOf(snapshot.Key))]).ConfigureAwait(false);
        return (int)result == 1;
    }
}
