namespace EntitlementDecision.Redis;

/// <summary>
/// Every Redis key and channel the product uses. A tenant's keys share the hash tag {environment:tenant}
/// so that scripts touching several of them stay in one cluster slot. Tenant ids and environments are
/// validated upstream to exclude ':' and braces, so keys cannot collide.
/// </summary>
internal static class RedisKeys
{
    /// <summary>Channel carrying each newly written snapshot (serialized entitlements.v1.TenantSnapshot).</summary>
    public const string InvalidationChannel = "ed:invalidations";

    /// <summary>Stream of every usage event outcome (format: README-usage-stream.md); read by the control plane's ledger writer.</summary>
    public const string UsageEvents = "ed:usage-events";

    /// <summary>Stream of soft-limit overage events (the same fields as their entry in <see cref="UsageEvents"/>).</summary>
    public const string UsageOverages = "ed:usage-overages";

    /// <summary>Hash of coverage declarations: field "service|feature" → "1", field <see cref="CoverageModeField"/> → "warn" | "reject".</summary>
    public const string UsageCoverage = "ed:coverage";

    /// <summary>Field of <see cref="UsageCoverage"/> holding the mode (the usage script reads the same literal).</summary>
    public const string CoverageModeField = "__mode";

    /// <summary>Generation marker: JSON of the last heal, written by the control plane's healer after a complete heal. Missing means
    /// Redis lost its data (or never held any): usage counters are not trusted until it is back.</summary>
    public const string GenerationMarker = "ed:generation";

    /// <summary>Consumer group of the control plane's ledger writer on <see cref="UsageEvents"/>.</summary>
    public const string LedgerGroup = "ledger";

    /// <summary>Hash { v: version, d: serialized TenantSnapshot }.</summary>
    public static string Snapshot(string environment, string tenantId) => $"ed:snap:{{{environment}:{tenantId}}}";

    /// <summary>Integer counter of units used in one window.</summary>
    public static string UsageCounter(string environment, string tenantId, string featureKey, string windowKey) =>
        $"ed:use:{{{environment}:{tenantId}}}:{featureKey}:{windowKey}";

    /// <summary>Marker that a usage event id was counted (the idempotency key).</summary>
    public static string UsageEvent(string environment, string tenantId, string eventId) =>
        $"ed:evt:{{{environment}:{tenantId}}}:{eventId}";
}
