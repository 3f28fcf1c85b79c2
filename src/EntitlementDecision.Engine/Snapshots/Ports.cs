namespace EntitlementDecision.Engine.Snapshots;

/// <summary>Read-only source of tenant snapshots (Redis, or an in-process cache in front of it).</summary>
public interface ISnapshotSource
{
    /// <summary>The newest snapshot of (tenant, environment), or null when there is none.
    /// Throws <see cref="StoreUnavailableException"/> when the backing store cannot be reached.</summary>
    ValueTask<Snapshot?> GetAsync(string tenantId, string environment, CancellationToken cancellationToken);
}

/// <summary>A backing store (snapshots or usage counters) could not be reached; the caller applies its fallback policy.</summary>
public sealed class StoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Outcome of counting one usage event. Used: units of the feature's meter counted in the window after the call.</summary>
public readonly record struct UsageRecordOutcome(bool Accepted, bool Duplicate, bool LimitExceeded, long Used);

/// <summary>Per-window usage counters with idempotent recording (dedupe by event id).</summary>
public interface IUsageCounter
{
    /// <summary>Units counted for the feature in <paramref name="window"/>; 0 when none. Throws <see cref="StoreUnavailableException"/>.</summary>
    ValueTask<long> GetUsedAsync(string tenantId, string environment, string featureKey, QuotaWindow window, CancellationToken cancellationToken);

    /// <summary>
    /// Atomically: when <paramref name="eventId"/> was seen for (tenant, environment) returns Duplicate (nothing counted);
    /// when used + quantity would exceed <paramref name="limit"/> (>= 0; -1 = unlimited) returns LimitExceeded (nothing counted, event id not kept);
    /// otherwise counts quantity and remembers the event id. Throws <see cref="StoreUnavailableException"/> when the store
    /// cannot be reached (then nothing was counted, or the caller cannot know: retrying with the same event id is safe).
    /// </summary>
    ValueTask<UsageRecordOutcome> RecordAsync(string tenantId, string environment, string featureKey, QuotaWindow window, long quantity, long limit, string eventId, CancellationToken cancellationToken);
}
