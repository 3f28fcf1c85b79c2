namespace EntitlementDecision.Engine.Usage;

/// <summary>Which front door a usage event came through (stream field <c>origin</c>).</summary>
public enum UsageOrigin
{
    /// <summary>The sidecar's RecordUsage (gRPC).</summary>
    Grpc = 1,

    /// <summary>The control plane's HTTP batch ingestion.</summary>
    Http = 2,
}

/// <summary>
/// One usage event of a metered feature, as a producer reports it (the usage event schema of issue 4; the same fields as
/// entitlements.v1.RecordUsageRequest and the control plane's batch ingestion body). Shapes, checked by <see cref="UsageEventValidation"/>:
/// <list type="bullet">
/// <item><see cref="TenantId"/>, <see cref="FeatureKey"/>: 1..128 of [A-Za-z0-9._-]; <see cref="Environment"/>: 1..64 of the same, "" means "production".</item>
/// <item><see cref="Quantity"/>: units of the feature's meter, 1..<see cref="UsageEventValidation.MaxQuantity"/>.</item>
/// <item><see cref="EventId"/>: the idempotency key, 1..128 printable ASCII without spaces; counted once per (tenant, environment).</item>
/// <item><see cref="Timestamp"/>: when the usage happened (null: when it is received); picks the window. At most the allowed clock skew in the future.</item>
/// <item><see cref="Service"/>: the producing service, 0..128 of [A-Za-z0-9._-]; "" is recorded as "unknown".</item>
/// <item><see cref="Unit"/>: the quantity's unit, "" or exactly the catalog feature's unit (e.g. "call").</item>
/// <item><see cref="RequestId"/>: 0..128 printable ASCII without spaces. <see cref="TraceId"/>: "" or a W3C trace-id (32 lower-case hex, not all zero).</item>
/// <item><see cref="SourceDigest"/>: "" or "sha256:" + 64 lower-case hex: the digest of the source record the producer derived the event from.</item>
/// </list>
/// </summary>
public sealed record UsageEvent(
    string TenantId,
    string Environment,
    string FeatureKey,
    long Quantity,
    string EventId,
    DateTimeOffset? Timestamp = null,
    string Service = "",
    string Unit = "",
    string RequestId = "",
    string TraceId = "",
    string SourceDigest = "");
