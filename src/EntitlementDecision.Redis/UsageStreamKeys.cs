namespace EntitlementDecision.Redis;

/// <summary>
/// The Redis keys of the usage event streams, one set per shard of <see cref="RedisKeys"/> (format: README-usage-stream.md beside
/// this file), each key tagged with its shard's hash tag so that it shares a cluster slot with the shard's tenants' counters.
/// <see cref="Default"/> holds the agreed names (prefix "ed"); tests pass their own prefix (no braces) so that they can run side by
/// side on one Redis.
/// </summary>
/// <param name="Prefix">Start of every key: "&lt;prefix&gt;:usage-events:{tag}" and so on.</param>
public sealed record UsageStreamKeys(string Prefix)
{
    /// <summary>Consumer group of the control plane's ledger writer on each <see cref="Events"/> stream.</summary>
    public const string LedgerGroup = RedisKeys.LedgerGroup;

    /// <summary>Field of <see cref="Coverage"/> holding the mode: "warn" (default when absent) or "reject".</summary>
    public const string CoverageModeField = RedisKeys.CoverageModeField;

    /// <summary>ed:usage-events:{tag}, ed:coverage:{tag}, ed:generation:{tag}.</summary>
    public static UsageStreamKeys Default { get; } = new(RedisKeys.UsagePrefix);

    /// <summary>Stream of every RecordUsage outcome of the shard's tenants (consumer group "ledger" in the control plane).</summary>
    public string Events(int shard) => $"{Prefix}:usage-events:{RedisKeys.ShardTag(shard)}";

    /// <summary>The shard's soft-limit overage stream of earlier versions: no longer written (an overage is the <c>overage</c> field of
    /// the event's entry in <see cref="Events"/>); the ledger consumer deletes what an upgrade left behind.</summary>
    public string RetiredOverages(int shard) => $"{Prefix}:usage-overages:{RedisKeys.ShardTag(shard)}";

    /// <summary>Every retired overage stream: each shard's <see cref="RetiredOverages"/> and the unsharded one before them.</summary>
    public IReadOnlyList<string> AllRetiredOverages => [$"{Prefix}:usage-overages", .. Enumerable.Range(0, RedisKeys.Shards).Select(RetiredOverages)];

    /// <summary>The shard's copy of the coverage declarations: field "service|feature" → "1", field "__mode" → "warn" | "reject".</summary>
    public string Coverage(int shard) => $"{Prefix}:coverage:{RedisKeys.ShardTag(shard)}";

    /// <summary>The shard's generation marker, written by the control plane's healer once Redis holds every snapshot, counter and
    /// dedupe marker: while it is missing (Redis lost the shard's data and the heal has not finished), counters are not trusted, so
    /// usage is refused and metered checks answer by their degradation policy.</summary>
    public string Generation(int shard) => $"{Prefix}:generation:{RedisKeys.ShardTag(shard)}";

    /// <summary>Every shard's generation marker.</summary>
    public IReadOnlyList<string> AllGenerations => [.. Enumerable.Range(0, RedisKeys.Shards).Select(Generation)];

    /// <summary>The coverage hash field declaring that <paramref name="service"/> emits <paramref name="featureKey"/>: "service|feature".</summary>
    public static string CoverageField(string service, string featureKey) => $"{service}|{featureKey}";
}
