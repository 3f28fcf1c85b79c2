using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Decisions;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Engine.Usage;
using StackExchange.Redis;

namespace EntitlementDecision.Redis;

/// <summary>
/// Records usage events: the ONE place that validates a usage event against its schema and the tenant's snapshot and counts it
/// (through <see cref="IUsageCounter"/>, in production the Lua script of <see cref="RedisUsageCounter"/>). The sidecar's RecordUsage
/// (origin grpc) and the control plane's batch ingestion (origin http) both call <see cref="RecordAsync"/>, so the same event gets
/// the same answer through either door.
/// </summary>
public sealed class UsageRecorder
{
    /// <summary>How far in the future a usage timestamp may be, by default (the sidecar's ED_SIDECAR_MAX_CLOCK_SKEW_S).</summary>
    public static readonly TimeSpan DefaultMaxClockSkew = TimeSpan.FromMinutes(5);

    private readonly IUsageCounter _counter;

    /// <summary>A recorder on <paramref name="counter"/>.</summary>
    public UsageRecorder(IUsageCounter counter, TimeSpan? maxClockSkew = null)
    {
        _counter = counter;
        MaxClockSkew = maxClockSkew ?? DefaultMaxClockSkew;
    }

    /// <summary>A recorder on the Redis usage script (<see cref="RedisUsageCounter"/>) with the agreed stream keys unless <paramref name="keys"/> are given.</summary>
    public UsageRecorder(IConnectionMultiplexer redis, TimeSpan? maxClockSkew = null, UsageStreamKeys? keys = null)
        : this(new RedisUsageCounter(redis, keys), maxClockSkew)
    {
    }

    public TimeSpan MaxClockSkew { get; }

    /// <summary>
    /// Checks <paramref name="usage"/>'s shape (<see cref="UsageEventValidation"/>), received at <paramref name="now"/>; null when valid.
    /// Callers that must look up the snapshot first call this before the lookup; <see cref="RecordAsync"/> checks again.
    /// </summary>
    public UsageEventError? Validate(UsageEvent usage, DateTimeOffset now, out UsageEvent normalized) =>
        UsageEventValidation.Validate(usage, now, MaxClockSkew, out normalized);

    /// <summary>
    /// Records <paramref name="usage"/> of the tenant whose newest snapshot is <paramref name="snapshot"/> (null: unknown tenant),
    /// received at <paramref name="now"/>. Order: schema (Invalid), unknown tenant / suspended / read-only / not in plan (NotGranted,
    /// as CheckEntitlement would answer at <paramref name="now"/>), a feature that is not metered (Invalid, field feature_key), a unit
    /// other than the catalog feature's (Invalid, field unit); then the usage script decides Accepted, Duplicate, LimitExceeded or
    /// RejectedUndeclared in the window the usage's timestamp falls in, and streams it. Invalid and NotGranted events are neither
    /// counted nor streamed. Throws <see cref="StoreUnavailableException"/> when the counter store cannot be reached (retrying with
    /// the same event id is safe), and ArgumentException when <paramref name="snapshot"/> is another tenant's or environment's.
    /// </summary>
    public async ValueTask<UsageRecordResult> RecordAsync(Snapshot? snapshot, UsageEvent usage, UsageOrigin origin, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (Validate(usage, now, out var normalized) is { } error)
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
        var outcome = await _counter.RecordAsync(
            new UsageRecordCommand(normalized, origin, window, grant.Limit, grant.LimitMode, unit.Length > 0 ? unit : normalized.Unit, now),
            cancellationToken).ConfigureAwait(false);

        var (status, reason) = outcome.Outcome switch
        {
            UsageOutcome.Accepted => (UsageRecordStatus.Accepted, DecisionReason.Granted),
            UsageOutcome.Duplicate => (UsageRecordStatus.Duplicate, DecisionReason.Granted),
            UsageOutcome.LimitExceeded => (UsageRecordStatus.LimitExceeded, DecisionReason.LimitExceeded),
            _ => (UsageRecordStatus.RejectedUndeclared, DecisionReason.UndeclaredUsage),
        };
        var unlimited = grant.Limit < 0;
        return new UsageRecordResult(
            status,
            reason,
            Used: outcome.Used,
            Limit: grant.Limit,
            Remaining: unlimited ? -1 : Math.Max(grant.Limit - outcome.Used, 0),
            LimitMode: grant.LimitMode,
            OverLimit: !unlimited && (outcome.Used > grant.Limit || (status == UsageRecordStatus.LimitExceeded)),
            Overage: outcome.Overage,
            Undeclared: outcome.Undeclared,
            Window: window,
            StreamEntryId: outcome.StreamEntryId);
    }
}
