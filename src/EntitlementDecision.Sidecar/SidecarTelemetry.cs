using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using EntitlementDecision.Engine.Decisions;
using EntitlementDecision.Telemetry;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Proto = EntitlementDecision.Contracts.V1;

namespace EntitlementDecision.Sidecar;

/// <summary>
/// The sidecar's spans (ActivitySource <c>EntitlementDecision.Sidecar</c>: the invalidation apply, in the publisher's trace) and
/// metrics (Meter of the same name; names, units and labels in README.md "Metrics"), served on the admin port's <c>/metrics</c>.
/// Inbound gRPC calls get no span by default (ED_SIDECAR_TRACE_REQUESTS=true adds ASP.NET Core's): the hot path stays lean.
/// </summary>
internal sealed class SidecarMetrics : IDisposable
{
    public const string Name = "EntitlementDecision.Sidecar";
    public static readonly ActivitySource Source = new(Name);

    // Feature labels are bounded: beyond this many distinct keys a feature is counted as "(other)".
    private const int MaxFeatureLabels = 500;
    private static readonly string[] ReasonNames = BuildReasonNames();
    private readonly ConcurrentDictionary<string, string> _features = new(StringComparer.Ordinal);
    private readonly Meter _meter;
    private readonly Counter<long> _decisions;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _lookups;
    private readonly Counter<long> _usage;
    private readonly Histogram<double> _invalidationLag;

    public SidecarMetrics(IMeterFactory meters, SnapshotCache cache, InvalidationHealth health)
    {
        _meter = meters.Create(Name);
        _decisions = _meter.CreateCounter<long>("ed.sidecar.decisions", "{decision}", "Entitlement decisions by reason, feature, allowed and fallback");
        _duration = _meter.CreateHistogram<double>("ed.sidecar.decision.duration", "s", "Server time of CheckEntitlement, CheckEntitlements and RecordUsage calls",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1] });
        _lookups = _meter.CreateCounter<long>("ed.sidecar.snapshot.lookups", "{lookup}", "Snapshot reads of decisions: hit (in memory), miss (loaded from Redis), fallback (answered by the degradation policy)");
        _usage = _meter.CreateCounter<long>("ed.sidecar.usage.records", "{call}", "RecordUsage outcomes: accepted, duplicate, limit_exceeded, invalid, unavailable");
        _invalidationLag = _meter.CreateHistogram<double>("ed.sidecar.invalidation.lag", "s", "Snapshot generated (published) at the control plane -> applied in this sidecar",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        _meter.CreateObservableGauge("ed.sidecar.snapshot.age", () => cache.MaxUnconfirmedAge().TotalSeconds, "s",
            "Longest time a held snapshot has gone unconfirmed (0 while the invalidation subscription is live): its possible staleness");
        _meter.CreateObservableGauge("ed.sidecar.snapshots", () => (long)cache.Count, "{snapshot}", "Snapshots (and remembered unknown tenants) held in memory");
        _meter.CreateObservableGauge("ed.sidecar.invalidation.live", () => health.IsLive ? 1 : 0, "{state}", "1 while the invalidation subscription is live");
    }

    public void Decided(string featureKey, in Decision decision, bool fromMemory)
    {
        var tags = new TagList
        {
            { "reason", (int)decision.Reason < ReasonNames.Length ? ReasonNames[(int)decision.Reason] : "UNKNOWN" },
            { "feature", FeatureLabel(featureKey) },
            { "allowed", decision.Allowed ? "true" : "false" },
            { "fallback", decision.Fallback != FallbackCause.None ? "true" : "false" },
        };
        _decisions.Add(1, tags);
        _lookups.Add(1, new KeyValuePair<string, object?>("result", decision.Fallback != FallbackCause.None ? "fallback" : fromMemory ? "hit" : "miss"));
    }

    /// <summary>A refused RecordUsage's outcome label: its reason in lower case, e.g. limit_exceeded.</summary>
    public static string ReasonLabel(int reason) =>
        reason >= 0 && reason < ReasonNames.Length && ReasonNames[reason] is { } name ? name.ToLowerInvariant() : "refused";

    public void Duration(string method, long startTimestamp) =>
        _duration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, new KeyValuePair<string, object?>("method", method));

    public void Usage(string outcome) => _usage.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void InvalidationApplied(DateTimeOffset generatedAt, DateTimeOffset now)
    {
        if (generatedAt != default)
        {
            _invalidationLag.Record(Math.Max(0, (now - generatedAt).TotalSeconds));
        }
    }

    public void Dispose() => _meter.Dispose();

    private string FeatureLabel(string featureKey) =>
        _features.TryGetValue(featureKey, out var label) ? label
        : _features.Count >= MaxFeatureLabels ? "(other)"
        : _features.GetOrAdd(featureKey, featureKey);

    // The proto names without their prefix (GRANTED, NOT_IN_PLAN, ...), indexed by value, from protoc's [OriginalName] attributes.
    private static string[] BuildReasonNames()
    {
        var fields = typeof(Proto.DecisionReason).GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static);
        var names = new string[fields.Max(f => (int)f.GetValue(null)!) + 1];
        foreach (var field in fields)
        {
            var name = field.GetCustomAttributes(typeof(Google.Protobuf.Reflection.OriginalNameAttribute), false) is [Google.Protobuf.Reflection.OriginalNameAttribute original, ..]
                ? original.Name : field.Name;
            names[(int)field.GetValue(null)!] = name.StartsWith("DECISION_REASON_", StringComparison.Ordinal) ? name["DECISION_REASON_".Length..] : name;
        }

        return names;
    }
}

/// <summary>
/// /readyz of the sidecar: Healthy while the invalidation subscription is live; Degraded (still 200: it answers by its fallback
/// policy) while it is down but snapshots are held and the outage is within <see cref="DegradationPolicy.DefaultMaxStalenessSeconds"/>;
/// Unhealthy (503) otherwise: nothing to answer from, or every held snapshot is past the default staleness bound.
/// </summary>
internal sealed class SidecarReadiness(InvalidationHealth health, SnapshotCache cache) : IHealthCheck
{
    public static readonly TimeSpan FallbackWindow = TimeSpan.FromSeconds(DegradationPolicy.DefaultMaxStalenessSeconds);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (health.IsLive)
        {
            return Task.FromResult(HealthCheckResult.Healthy("invalidation subscription live"));
        }

        var age = cache.MaxUnconfirmedAge();
        return Task.FromResult(cache.Count > 0 && age <= FallbackWindow
            ? HealthCheckResult.Degraded($"invalidation subscription down for {age.TotalSeconds:0} s: answering from held snapshots by the fallback policy")
            : HealthCheckResult.Unhealthy(cache.Count == 0
                ? "invalidation subscription not live and no snapshot held"
                : $"invalidation subscription down for {age.TotalSeconds:0} s, past the {FallbackWindow.TotalSeconds:0} s fallback window"));
    }

    /// <summary>Registers the check under <see cref="HealthEndpoints.ReadyTag"/>.</summary>
    public static void Register(IHealthChecksBuilder checks) => checks.AddCheck<SidecarReadiness>("ready", tags: [HealthEndpoints.ReadyTag]);
}
