namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>
/// Table <c>usage_ledger</c>: one row per accepted usage event, unique on (tenant_id, environment, event_id) (the idempotency key:
/// a redelivered stream entry never adds a second row). Per (tenant, environment) the rows form a hash chain: <see cref="Seq"/>
/// is 1, 2, 3... without gaps, <see cref="PrevHash"/> is the previous row's <see cref="Hash"/> (64 zeros for seq 1) and
/// <see cref="Hash"/> = hex SHA-256 of <see cref="LedgerChain.Canonical"/> (see there for the encoding).
/// </summary>
internal sealed class LedgerRow
{
    public required string TenantId { get; set; }

    public required string Environment { get; set; }

    public long Seq { get; set; }

    public required string EventId { get; set; }

    public required string Feature { get; set; }

    /// <summary>Whole units of the feature's meter (&gt;= 0).</summary>
    public long Quantity { get; set; }

    public required string Unit { get; set; }

    /// <summary>The emitting service ("unknown" when it did not say).</summary>
    public required string Service { get; set; }

    /// <summary>The usage's own timestamp (the event's <c>timestamp</c>), millisecond precision.</summary>
    public DateTimeOffset OccurredAt { get; set; }

    /// <summary>When Redis decided the event (Redis TIME in the recording script), millisecond precision.</summary>
    public DateTimeOffset ReceivedAt { get; set; }

    /// <summary>The counter window the event was counted in: "d20261121", "m202611" or "b20261105000000".</summary>
    public required string WindowKey { get; set; }

    /// <summary>The limit in force (-1 = unlimited).</summary>
    public long LimitValue { get; set; }

    /// <summary>hard | soft | report_only.</summary>
    public required string LimitMode { get; set; }

    /// <summary>The window's counter after this event.</summary>
    public long UsedAfter { get; set; }

    /// <summary>Units beyond the limit counted by this event (soft limits), else 0.</summary>
    public long Overage { get; set; }

    /// <summary>True when (service, feature) was not declared in the catalog's services section (accepted under "warn").</summary>
    public bool Undeclared { get; set; }

    public required string RequestId { get; set; }

    public required string TraceId { get; set; }

    public required string SourceDigest { get; set; }

    /// <summary>grpc | http.</summary>
    public required string Origin { get; set; }

    /// <summary><see cref="Lateness.OnTime"/>, <see cref="Lateness.Late"/> or <see cref="Lateness.TooLate"/>.</summary>
    public required string Lateness { get; set; }

    /// <summary>The UTC day the event counts in for rollups and statements: the day of <see cref="OccurredAt"/>, except too-late
    /// events, which count in the day they were received (closed days never change).</summary>
    public DateOnly UsageDay { get; set; }

    /// <summary>The stream entry id it came from (provenance; not part of the hash).</summary>
    public required string StreamId { get; set; }

    public required string PrevHash { get; set; }

    public required string Hash { get; set; }

    /// <summary>When the ledger writer committed the row (not part of the hash).</summary>
    public DateTimeOffset RecordedAt { get; set; }
}

/// <summary>Table <c>ledger_heads</c>: the last seq and hash of each (tenant, environment) chain; writers lock it FOR UPDATE, so
/// concurrent writers of one tenant serialise and seq never forks.</summary>
internal sealed class LedgerHead
{
    public required string TenantId { get; set; }

    public required string Environment { get; set; }

    public long LastSeq { get; set; }

    public required string LastHash { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>
/// Table <c>usage_receipts</c>: every stream entry the ledger writer received, keyed by its stream id (a redelivery adds nothing),
/// with its outcome: accepted (also in usage_ledger), duplicate (Redis saw the event id before, or the ledger already held it),
/// limit_exceeded, rejected_undeclared, or invalid (<see cref="Reason"/> says why; the raw fields are kept in <see cref="Raw"/>).
/// The integrity report counts these per day.
/// </summary>
internal sealed class UsageReceipt
{
    public required string StreamId { get; set; }

    /// <summary>"" when an invalid entry named no tenant.</summary>
    public required string TenantId { get; set; }

    public required string Environment { get; set; }

    public required string EventId { get; set; }

    public required string Feature { get; set; }

    public long Quantity { get; set; }

    /// <summary>accepted | duplicate | limit_exceeded | rejected_undeclared | invalid.</summary>
    public required string Outcome { get; set; }

    public string? Reason { get; set; }

    public bool Undeclared { get; set; }

    /// <summary>Units beyond a soft limit counted by this event (the entry's <c>overage</c>) when accepted, else 0.</summary>
    public long Overage { get; set; }

    public required string Lateness { get; set; }

    /// <summary>The day the receipt is reported under (same rule as <see cref="LedgerRow.UsageDay"/>; the receive day for invalid entries).</summary>
    public DateOnly UsageDay { get; set; }

    public DateTimeOffset ReceivedAt { get; set; }

    /// <summary>The entry's fields as JSON (jsonb), kept for invalid entries only.</summary>
    public string? Raw { get; set; }
}

/// <summary>Table <c>usage_daily</c>: the rollup: accepted units per (tenant, environment, feature, usage day).</summary>
internal sealed class DailyUsage
{
    public required string TenantId { get; set; }

    public required string Environment { get; set; }

    public required string Feature { get; set; }

    public DateOnly Day { get; set; }

    public long Quantity { get; set; }

    public long Events { get; set; }

    /// <summary>Soft-limit overage units recorded by the script that day.</summary>
    public long Overage { get; set; }

    public DateTimeOffset ComputedAt { get; set; }
}

/// <summary>Table <c>usage_integrity_daily</c>: per (tenant, environment, day): how many stream entries arrived and what became of them.</summary>
internal sealed class DailyIntegrity
{
    public required string TenantId { get; set; }

    public required string Environment { get; set; }

    public DateOnly Day { get; set; }

    public long Received { get; set; }

    public long Accepted { get; set; }

    public long Duplicate { get; set; }

    /// <summary>Accepted, arrived after their day ended, within the late window: counted in their own day.</summary>
    public long Late { get; set; }

    /// <summary>Accepted, arrived after the late window: counted in the day they arrived (this row's day).</summary>
    public long TooLate { get; set; }

    public long LimitExceeded { get; set; }

    public long RejectedUndeclared { get; set; }

    /// <summary>Accepted although (service, feature) was not declared (coverage "warn").</summary>
    public long Undeclared { get; set; }

    public long Invalid { get; set; }

    /// <summary>Accepted past a soft limit (receipt overage &gt; 0): the day's overage events.</summary>
    public long OverageEvents { get; set; }

    public DateTimeOffset ComputedAt { get; set; }
}

/// <summary>Table <c>usage_rollup_queue</c>: (tenant, environment, day) whose rollup must be recomputed; written by the ledger writer
/// in its transaction, drained by the rollup job.</summary>
internal sealed class RollupQueueItem
{
    public required string TenantId { get; set; }

    public required string Environment { get; set; }

    public DateOnly Day { get; set; }
}

/// <summary>The lateness classes of a usage event (see <see cref="LedgerRow.Lateness"/>).</summary>
internal static class Lateness
{
    /// <summary>Received before the end of the UTC day it occurred in.</summary>
    public const string OnTime = "on_time";

    /// <summary>Received after its day ended, but at most the late window (ED_USAGE_LATE_WINDOW_HOURS) after it occurred.</summary>
    public const string Late = "late";

    /// <summary>Received more than the late window after it occurred: still in the ledger (Redis counted it), reported in the day it arrived.</summary>
    public const string TooLate = "too_late";

    /// <summary>Classifies an event and returns the day it counts in.</summary>
    public static (string Class, DateOnly Day) Classify(DateTimeOffset occurredAt, DateTimeOffset receivedAt, TimeSpan lateWindow)
    {
        var occurredDay = DateOnly.FromDateTime(occurredAt.UtcDateTime);
        var dayEnd = new DateTimeOffset(occurredDay.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        if (receivedAt < dayEnd)
        {
            return (OnTime, occurredDay);
        }

        return receivedAt - occurredAt <= lateWindow ? (Late, occurredDay) : (TooLate, DateOnly.FromDateTime(receivedAt.UtcDateTime));
    }
}
