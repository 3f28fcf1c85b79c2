using EntitlementDecision.Engine;

namespace EntitlementDecision.Redis;

/// <summary>
/// Every Redis key and channel the product uses, laid out for Redis Cluster as well as a single Redis. Tenants are spread over
/// <see cref="Shards"/> shards by a stable hash of "environment:tenant"; every key of a shard (its tenants' snapshots, counters and
/// dedupe markers, its usage streams, coverage copy, generation marker and invalidation channel) carries the shard's hash tag, so
/// one Lua script per event stays in one cluster slot. Tenant ids and environments exclude ':' and braces (validated upstream),
/// so keys cannot collide. Changing <see cref="Shards"/> moves tenants: the control plane's healer then refills Redis from PostgreSQL.
/// </summary>
public static class RedisKeys
{
    /// <summary>Number of shards: a Redis Cluster spreads usage over at most this many masters.</summary>
    public const int Shards = 16;

    // Hash tags whose cluster slots are spread evenly: tag i hashes into slots [1024 i, 1024 (i + 1)), so an even split of the
    // 16,384 slots over masters (redis-cli --cluster create) gives each master an even share of shards. RedisKeysTests checks it.
    private static readonly string[] ShardTags =
        ["{ed0}", "{ed23}", "{ed63}", "{ed41}", "{ed1}", "{ed22}", "{ed62}", "{ed40}", "{ed2}", "{ed21}", "{ed61}", "{ed43}", "{ed3}", "{ed20}", "{ed60}", "{ed42}"];

    /// <summary>The shard of a tenant: FNV-1a (32 bit) of "environment:tenant" as UTF-16 code units, modulo <see cref="Shards"/>.
    /// Stable across processes and versions (string.GetHashCode is not).</summary>
    public static int ShardOf(TenantKey tenant)
    {
        var hash = 2166136261u;
        foreach (var c in tenant.Environment) hash = (hash ^ c) * 16777619u;
        hash = (hash ^ ':') * 16777619u;
        foreach (var c in tenant.TenantId) hash = (hash ^ c) * 16777619u;
        return (int)(hash % Shards);
    }

    /// <summary>The hash tag of shard <paramref name="shard"/> (0 ≤ shard &lt; <see cref="Shards"/>), braces included.</summary>
    public static string ShardTag(int shard) => ShardTags[shard];

    /// <summary>Sharded pub/sub channel (SPUBLISH / SSUBSCRIBE) carrying each newly written snapshot of the shard's tenants
    /// (serialized entitlements.v1.TenantSnapshot).</summary>
    public static string InvalidationChannel(int shard) => $"ed:invalidations:{ShardTags[shard]}";

    /// <summary>Prefix of the usage streams, coverage hashes and generation markers (<see cref="UsageStreamKeys.Default"/>).</summary>
    public const string UsagePrefix = "ed";

    /// <summary>The stream of every usage outcome before the keyspace was sharded; the ledger writer drains what is left in it.</summary>
    public const string LegacyUsageEvents = "ed:usage-events";

    /// <summary>Field of the coverage hashes holding the mode (the usage script reads the same literal).</summary>
    public const string CoverageModeField = "__mode";

    /// <summary>Consumer group of the control plane's ledger writer on each usage event stream.</summary>
    public const string LedgerGroup = "ledger";

    /// <summary>Hash { v: version, d: serialized TenantSnapshot }.</summary>
    public static string Snapshot(TenantKey tenant) => $"ed:snap:{Tag(tenant)}:{tenant.Environment}:{tenant.TenantId}";

    /// <summary>Integer counter of units used in one window.</summary>
    public static string UsageCounter(TenantKey tenant, string featureKey, string windowKey) =>
        $"ed:use:{Tag(tenant)}:{tenant.Environment}:{tenant.TenantId}:{featureKey}:{windowKey}";

    /// <summary>Marker that a usage event id was counted (the idempotency key).</summary>
    public static string UsageEvent(TenantKey tenant, string eventId) =>
        $"ed:evt:{Tag(tenant)}:{tenant.Environment}:{tenant.TenantId}:{eventId}";

    private static string Tag(TenantKey tenant) => ShardTags[ShardOf(tenant)];
}
