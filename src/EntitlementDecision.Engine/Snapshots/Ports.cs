using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Usage;

namespace EntitlementDecision.Engine.Snapshots;

/// <summary>Read-only source of tenant snapshots (Redis, or an in-process cache in front of it).</summary>
public interface ISnapshotSource
{
    /// <summary>The newest snapshot of <paramref name="tenant"/>, or null when there is none.
    /// Throws <see cref="StoreUnavailableException"/> when the backing store cannot be reached.</summary>
    ValueTask<Snapshot?> GetAsync(TenantKey tenant, CancellationToken cancellationToken);
}

/// <summary>Which backing store a <see cref="StoreUnavailableException"/> is about.</summary>
public enum StoreKind
{
    /// <summary>Tenant snapshots.</summary>
    Snapshots = 0,

    /// <summary>Usage counters and the usage event stream.</summary>
    Usage = 1,

    /// <summary>The usage store answers but lost its data: the counters are being rebuilt from the ledger and are not trusted yet.</summary>
    UsageRebuilding = 2,
}

/// <summary>A backing store (snapshots or usage counters, <see cref="Store"/>) could not be reached; the caller applies its fallback policy.</summary>
public sealed class StoreUnavailableException(string message, Exception? inner = null, StoreKind store = StoreKind.Snapshots) : Exception(message, inner)
{
    /// <summary>The store that did not answer.</summary>
    public StoreKind Store { get; } = store;
}

/// <summary>What the usage script decided for one event (stream field <c>outcome</c>).</summary>
public enum UsageOutcome
{
    /// <summary>Counted now.</summary>
    Accepted = 1,

    /// <summary>The event id was counted before for (tenant, environment); nothing counted this time.</summary>
    Duplicate = 2,

    /// <summary>A hard limit: the units do not fit in the window; nothing counted, the event id not kept (a retry may fit later).</summary>
    LimitExceeded = 3,

    /// <summary>The (service, feature) pair is not declared and coverage is set to "reject"; nothing counted, the event id not kept.</summary>
    RejectedUndeclared = 4,
}

/// <summary>
/// Outcome of one usage event. <paramref name="Used"/>: units counted in the window after the call (the counter, whatever the outcome).
/// <paramref name="Overage"/>: units beyond the limit counted by this event under a soft limit, else 0.
/// <paramref name="Undeclared"/>: the (service, feature) pair is not declared in the coverage declarations.
/// <paramref name="StreamEntryId"/>: id of the usage stream entry the event was recorded as ("" when the store keeps no stream).
/// </summary>
public readonly record struct UsageRecordOutcome(UsageOutcome Outcome, long Used, long Overage = 0, bool Undeclared = false, string StreamEntryId = "")
{
    /// <summary>True when the usage is counted (now, or earlier for a duplicate).</summary>
    public bool Accepted => Outcome is UsageOutcome.Accepted or UsageOutcome.Duplicate;
}

/// <summary>
/// One usage event ready to count: the validated, normalized <paramref name="Event"/> (environment, service and timestamp filled in),
/// the <paramref name="Window"/> its timestamp falls in, and the grant's <paramref name="Limit"/> (-1 = unlimited), <paramref name="LimitMode"/>
/// and <paramref name="Unit"/> (the catalog's unit, "" when unknown).
/// </summary>
public sealed record UsageRecordCommand(UsageEvent Event, UsageOrigin Origin, QuotaWindow Window, long Limit, LimitMode LimitMode, string Unit, DateTimeOffset ReceivedAt);

/// <summary>Per-window usage counters with idempotent recording (dedupe by event id).</summary>
public interface IUsageCounter
{
    /// <summary>Units of <paramref name="tenant"/> counted for the feature in <paramref name="window"/>; 0 when none. Throws <see cref="StoreUnavailableException"/>
    /// (store <see cref="StoreKind.UsageRebuilding"/> while the counters are being rebuilt after a data loss).</summary>
    ValueTask<long> GetUsedAsync(TenantKey tenant, string featureKey, QuotaWindow window, CancellationToken cancellationToken);

    /// <summary>
    /// Atomically, in this order: an event id already counted for (tenant, environment) is a Duplicate (nothing counted);
    /// an undeclared (service, feature) under coverage mode "reject" is RejectedUndeclared (nothing counted, event id not kept);
    /// under a hard limit, units that would take the window above the limit are LimitExceeded (nothing counted, event id not kept);
    /// otherwise the units are counted (soft and report-only limits never deny; a soft limit reports the overage) and the event id kept.
    /// Every outcome is appended to the usage event stream in the same step. Throws <see cref="StoreUnavailableException"/> when the
    /// store cannot be reached or refuses the script (then nothing was counted, or the caller cannot know: retrying with the same
    /// event id is safe), and with <see cref="StoreKind.UsageRebuilding"/> while the counters are being rebuilt (nothing counted).
    /// </summary>
    ValueTask<UsageRecordOutcome> RecordAsync(UsageRecordCommand command, CancellationToken cancellationToken);
}
