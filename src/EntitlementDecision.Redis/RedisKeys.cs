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

    /// <summary>Hash { v: version, d: serialized TenantSnapshot }.</summary>
    public static string Snapshot(string environment, string tenantId) => $"ed:snap:{{{environment}:{tenantId}}}";

    /// <summary>Integer counter of units used in one window.</summary>
    public static string UsageCounter(string environment, string tenantId, string featureKey, string windowKey) =>
        $"ed:use:{{{environment}:{tenantId}}}:{featureKey}:{windowKey}";

    /// <summary>Marker that a usage event id was counted (the idempotency key).</summary>
    public static string UsageEvent(string environment, string tenantId, string eventId) =>
        $"ed:evt:{{{environment}:{tenantId}}}:{eventId}";
}
