namespace EntitlementDecision.Redis;

/// <summary>
/// The Redis keys of the usage event stream (format: README-usage-stream.md beside this file).
/// <see cref="Default"/> holds the agreed names; tests pass their own so that they can run side by side on one Redis.
/// </summary>
/// <param name="Events">Stream of every RecordUsage outcome (consumer group "ledger" in the control plane).</param>
/// <param name="Overages">Stream of soft-limit overage events (the same fields as their entry in <paramref name="Events"/>).</param>
/// <param name="Coverage">Hash of coverage declarations: field "service|feature" → "1", field "__mode" → "warn" | "reject".</param>
/// <param name="Generation">The generation marker the control plane's healer writes once Redis holds every snapshot, counter and
/// dedupe marker: while it is missing (Redis lost its data and the heal has not finished), counters are not trusted, so usage is
/// refused and metered checks answer by their degradation policy.</param>
public sealed record UsageStreamKeys(string Events, string Overages, string Coverage, string Generation = RedisKeys.GenerationMarker)
{
    /// <summary>Consumer group of the control plane's ledger writer on <see cref="Events"/>.</summary>
    public const string LedgerGroup = RedisKeys.LedgerGroup;

    /// <summary>Field of <see cref="Coverage"/> holding the mode: "warn" (default when absent) or "reject".</summary>
    public const string CoverageModeField = RedisKeys.CoverageModeField;

    /// <summary>ed:usage-events, ed:usage-overages, ed:coverage, ed:generation (the names live in <see cref="RedisKeys"/>, the one place for every key).</summary>
    public static UsageStreamKeys Default { get; } = new(RedisKeys.UsageEvents, RedisKeys.UsageOverages, RedisKeys.UsageCoverage, RedisKeys.GenerationMarker);

    /// <summary>The coverage hash field declaring that <paramref name="service"/> emits <paramref name="featureKey"/>: "service|feature".</summary>
    public static string CoverageField(string service, string featureKey) => $"{service}|{featureKey}";
}
