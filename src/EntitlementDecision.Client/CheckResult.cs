using EntitlementDecision.Contracts.V1;

namespace EntitlementDecision.Client;

/// <summary>
/// The answer to one check. <see cref="Allowed"/> and <see cref="Reason"/> come from the sidecar, or, when
/// <see cref="Fallback"/> is true, from the caller's <see cref="FallbackMode"/> for the feature (then <see cref="Reason"/> is
/// UNSPECIFIED, <see cref="Response"/> null and <see cref="FallbackCause"/> says why the sidecar did not answer).
/// </summary>
public sealed record CheckResult(
    string FeatureKey,
    bool Allowed,
    DecisionReason Reason,
    bool Fallback,
    CheckEntitlementResponse? Response,
    string? FallbackCause = null)
{
    /// <summary>Units left in the window for a metered feature (-1 unlimited); 0 for a fallback.</summary>
    public long Remaining => Response?.Remaining ?? 0;

    /// <summary>The plan the decision came from ("" for a fallback).</summary>
    public string PlanId => Response?.PlanId ?? "";
}

/// <summary>One check of <see cref="IEntitlementClient.CheckManyAsync"/>.</summary>
/// <param name="TenantId">the tenant, 1..128 chars of [A-Za-z0-9._-]</param>
/// <param name="FeatureKey">the feature, 1..128 chars of [A-Za-z0-9._-]</param>
/// <param name="RequestedQuantity">units of the feature's meter the action would use, >= 0 (0: is the feature granted)</param>
/// <param name="Environment">null: the configured environment</param>
/// <param name="MinSnapshotVersion">read-your-writes: the lowest snapshot version to answer from, >= 0 (0: any); pass the snapshot_version
/// a control-plane answer returned</param>
public sealed record EntitlementCheck(string TenantId, string FeatureKey, long RequestedQuantity = 0, string? Environment = null, long MinSnapshotVersion = 0);

/// <summary>
/// The answer to RecordUsage. <see cref="Recorded"/> is false for a fallback (the sidecar did not count it: retry later with the
/// same event id) and for a denial; <see cref="Accepted"/> follows the sidecar, or the feature's <see cref="FallbackMode"/>.
/// </summary>
public sealed record UsageResult(bool Accepted, bool Recorded, DecisionReason Reason, bool Fallback, RecordUsageResponse? Response, string? FallbackCause = null);
