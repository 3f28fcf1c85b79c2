using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Decisions;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.Engine.Usage;

/// <summary>How one usage event ended.</summary>
public enum UsageRecordStatus
{
    /// <summary>Counted now (possibly over a soft or report-only limit: see <see cref="UsageRecordResult.OverLimit"/>).</summary>
    Accepted = 1,

    /// <summary>The event id was counted before; nothing counted now.</summary>
    Duplicate = 2,

    /// <summary>Denied by a hard limit; nothing counted.</summary>
    LimitExceeded = 3,

    /// <summary>Undeclared (service, feature) while coverage rejects undeclared usage; nothing counted.</summary>
    RejectedUndeclared = 4,

    /// <summary>The tenant may not use the feature (unknown tenant, suspended, read-only, not in plan ...: <see cref="UsageRecordResult.Reason"/>); nothing counted, nothing streamed.</summary>
    NotGranted = 5,

    /// <summary>The event breaks the schema (<see cref="UsageRecordResult.Error"/>): a bad call. Nothing counted, nothing streamed.</summary>
    Invalid = 6,
}

/// <summary>
/// The outcome of recording one usage event (UsageRecorder). Reason: Granted for Accepted and Duplicate, LimitExceeded,
/// UndeclaredUsage, or the denial reason for NotGranted. For a metered grant Used/Limit/Remaining are units of the feature's meter in
/// <see cref="Window"/> after the call (-1 = unlimited); <see cref="OverLimit"/> says the window's count is above the limit (soft and
/// report-only limits; and a hard limit the event would have passed); <see cref="Overage"/> the units beyond the limit this event counted
/// under a soft limit (else 0); <see cref="Undeclared"/> that the (service, feature) pair is not declared.
/// </summary>
public sealed record UsageRecordResult(
    UsageRecordStatus Status,
    DecisionReason Reason,
    UsageEventError? Error = null,
    long Used = 0,
    long Limit = 0,
    long Remaining = 0,
    LimitMode LimitMode = LimitMode.Hard,
    bool OverLimit = false,
    long Overage = 0,
    bool Undeclared = false,
    QuotaWindow? Window = null,
    string StreamEntryId = "")
{
    /// <summary>True when the usage is counted (now, or earlier for a duplicate).</summary>
    public bool Accepted => Status is UsageRecordStatus.Accepted or UsageRecordStatus.Duplicate;

    /// <summary>The stream's outcome name (accepted, duplicate, limit_exceeded, rejected_undeclared), "invalid" or "not_granted".</summary>
    public string OutcomeName => Status switch
    {
        UsageRecordStatus.Accepted => "accepted",
        UsageRecordStatus.Duplicate => "duplicate",
        UsageRecordStatus.LimitExceeded => "limit_exceeded",
        UsageRecordStatus.RejectedUndeclared => "rejected_undeclared",
        UsageRecordStatus.NotGranted => "not_granted",
        _ => "invalid",
    };
}
