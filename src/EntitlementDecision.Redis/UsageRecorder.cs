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
    /// received at <paramref name="now"/>. First the checks of <see cref="UsageRecording.Prepare"/> (Invalid, NotGranted); then the
    /// counter (the usage script, rules in <see cref="UsageCounting"/>) decides Accepted, Duplicate, LimitExceeded or RejectedUndeclared
    /// in the window the usage's timestamp falls in, and streams it; the answer is <see cref="UsageRecording.Answer"/>. Invalid and NotGranted events are neither
    /// counted nor streamed. Throws <see cref="StoreUnavailableException"/> when the counter store cannot be reached (retrying with
    /// the same event id is safe), and ArgumentException when <paramref name="snapshot"/> is another tenant's or environment's.
    /// </summary>
    public async ValueTask<UsageRecordResult> RecordAsync(Snapshot? snapshot, UsageEvent usage, UsageOrigin origin, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (UsageRecording.Prepare(snapshot, usage, origin, now, MaxClockSkew, out var command) is { } early)
        {
            return early;
        }

        var outcome = await _counter.RecordAsync(command!, cancellationToken).ConfigureAwait(false);
        return UsageRecording.Answer(command!, outcome);
    }
}
