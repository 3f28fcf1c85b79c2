using EntitlementDecision.Engine.Decisions;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.Engine.Usage;

/// <summary>
/// The rules around counting a usage event, next to the evaluator: which events reach the counter (<see cref="Prepare"/>) and the answer
/// built from the counter's outcome (<see cref="Answer"/>). UsageRecorder runs them around <see cref="IUsageCounter.RecordAsync"/> for the
/// sidecar's RecordUsage and the control plane's ingestion. Pure; allocates only the command or the early answer.
/// </summary>
public static class UsageRecording
{
    /// <summary>
    /// Checks <paramref name="usage"/> of the tenant whose newest snapshot is <paramref name="snapshot"/> (null: unknown tenant), received at
    /// <paramref name="now"/>, in order: schema (Invalid), unknown tenant / suspended / read-only / not in plan (NotGranted, as
    /// CheckEntitlement would answer at <paramref name="now"/>), a feature that is not metered (Invalid, field feature_key), a unit other
    /// than the catalog feature's (Invalid, field unit). Returns that answer, or null with <paramref name="command"/> set: the normalized
    /// event in the window its timestamp falls in, with the grant's limit, mode and unit. Throws ArgumentException when
    /// <paramref name="snapshot"/> is another tenant's or environment's.
    /// </summary>
    public static UsageRecordResult? Prepare(
        Snapshot? snapshot, UsageEvent usage, UsageOrigin origin, DateTimeOffset now, TimeSpan maxClockSkew, out UsageRecordCommand? command)
    {
        command = null;
        if (UsageEventValidation.Validate(usage, now, maxClockSkew, out var normalized) is { } error)
        {
            return new UsageRecordResult(UsageRecordStatus.Invalid, DecisionReason.Granted, error);
        }

        if (snapshot is null)
        {
            return new UsageRecordResult(UsageRecordStatus.NotGranted, DecisionReason.UnknownTenant);
        }

        if (snapshot.TenantId != normalized.TenantId || snapshot.Environment != normalized.Environment)
        {
            throw new ArgumentException($"the snapshot is of ({snapshot.TenantId}, {snapshot.Environment}), the event of ({normalized.TenantId}, {normalized.Environment})", nameof(snapshot));
        }

        var decision = Evaluator.Evaluate(snapshot, normalized.FeatureKey, 0, 0, now);
        if (!decision.Allowed)
        {
            return new UsageRecordResult(UsageRecordStatus.NotGranted, decision.Reason);
        }

        var grant = snapshot.Features[normalized.FeatureKey];
        if (!grant.IsMetered)
        {
            return new UsageRecordResult(
                UsageRecordStatus.Invalid,
                DecisionReason.Granted,
                new UsageEventError("feature_key", $"feature_key '{normalized.FeatureKey}' is not metered: there is no usage to record"));
        }

        var unit = grant.Unit ?? "";
        if (normalized.Unit.Length > 0 && unit.Length > 0 && !string.Equals(normalized.Unit, unit, StringComparison.Ordinal))
        {
            return new UsageRecordResult(
                UsageRecordStatus.Invalid,
                DecisionReason.Granted,
                new UsageEventError("unit", $"unit '{normalized.Unit}' is not the unit of '{normalized.FeatureKey}' ('{unit}')"));
        }

        var window = QuotaWindow.For(snapshot, grant, normalized.Timestamp!.Value);
        command = new UsageRecordCommand(normalized, origin, window, grant.Limit, grant.LimitMode, unit.Length > 0 ? unit : normalized.Unit, now);
        return null;
    }

    /// <summary>
    /// The answer to <paramref name="command"/> once counted as <paramref name="outcome"/>: Used as counted, Remaining = limit - used (at
    /// least 0; -1 unlimited), OverLimit when the count is above the limit or a hard limit refused the units, the overage and coverage flag
    /// as the counter reported them.
    /// </summary>
    public static UsageRecordResult Answer(UsageRecordCommand command, UsageRecordOutcome outcome)
    {
        var (status, reason) = outcome.Outcome switch
        {
            UsageOutcome.Accepted => (UsageRecordStatus.Accepted, DecisionReason.Granted),
            UsageOutcome.Duplicate => (UsageRecordStatus.Duplicate, DecisionReason.Granted),
            UsageOutcome.LimitExceeded => (UsageRecordStatus.LimitExceeded, DecisionReason.LimitExceeded),
            _ => (UsageRecordStatus.RejectedUndeclared, DecisionReason.UndeclaredUsage),
        };
        var limit = command.Limit;
        var unlimited = limit < 0;
        return new UsageRecordResult(
            status,
            reason,
            Used: outcome.Used,
            Limit: limit,
            Remaining: unlimited ? -1 : Math.Max(limit - outcome.Used, 0),
            LimitMode: command.LimitMode,
            OverLimit: !unlimited && (outcome.Used > limit || status == UsageRecordStatus.LimitExceeded),
            Overage: outcome.Overage,
            Undeclared: outcome.Undeclared,
            Window: command.Window,
            StreamEntryId: outcome.StreamEntryId);
    }
}
