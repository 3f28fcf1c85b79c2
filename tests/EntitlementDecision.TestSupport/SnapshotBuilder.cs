using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.TestSupport;

/// <summary>
/// Builds a <see cref="Snapshot"/> for tests: defaults are tenant "t-1" in production, version 1, plan "pro" from an active
/// subscription, catalog "test.1", generated 2026-11-01T00:00Z, no features; each With... changes one thing. Every Build is a new instance.
/// </summary>
public sealed class SnapshotBuilder
{
    /// <summary>The default <see cref="Snapshot.GeneratedAt"/> (UTC).</summary>
    public static readonly DateTimeOffset DefaultGeneratedAt = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly List<FeatureGrant> _features = [];
    private readonly List<string> _inactive = [];
    private string _tenantId = "t-1";
    private string _environment = "production";
    private long _version = 1;
    private string _planId = "pro";
    private PlanSource _planSource = PlanSource.Subscription;
    private SubscriptionState _state = SubscriptionState.Active;
    private bool _comped;
    private bool _suspended;
    private DateTimeOffset? _periodStart;
    private DateTimeOffset? _periodEnd;
    private DateTimeOffset _generatedAt = DefaultGeneratedAt;
    private string _catalogVersion = "test.1";
    private DateTimeOffset? _accessDeadline;
    private DateTimeOffset? _graceEndsAt;
    private DateTimeOffset? _suspendAt;

    /// <summary>A builder for <paramref name="tenantId"/> (default "t-1").</summary>
    public static SnapshotBuilder For(string tenantId = "t-1") => new() { _tenantId = tenantId };

    public SnapshotBuilder WithEnvironment(string environment) => Set(() => _environment = environment);

    public SnapshotBuilder WithVersion(long version) => Set(() => _version = version);

    public SnapshotBuilder WithPlan(string planId, PlanSource source = PlanSource.Subscription) => Set(() => (_planId, _planSource) = (planId, source));

    public SnapshotBuilder WithState(SubscriptionState state) => Set(() => _state = state);

    public SnapshotBuilder WithComped(bool comped = true) => Set(() => _comped = comped);

    /// <summary>An operator suspension (<see cref="Snapshot.Suspended"/>).</summary>
    public SnapshotBuilder WithSuspended(bool suspended = true) => Set(() => _suspended = suspended);

    /// <summary>The billing period; either end may be null.</summary>
    public SnapshotBuilder WithPeriod(DateTimeOffset? start, DateTimeOffset? end) => Set(() => (_periodStart, _periodEnd) = (start, end));

    public SnapshotBuilder WithGeneratedAt(DateTimeOffset generatedAt) => Set(() => _generatedAt = generatedAt);

    public SnapshotBuilder WithCatalogVersion(string catalogVersion) => Set(() => _catalogVersion = catalogVersion);

    public SnapshotBuilder WithAccessDeadline(DateTimeOffset? deadline) => Set(() => _accessDeadline = deadline);

    /// <summary>The dunning schedule: grace until <paramref name="graceEndsAt"/>, read-only until <paramref name="suspendAt"/>.</summary>
    public SnapshotBuilder WithDunning(DateTimeOffset? graceEndsAt, DateTimeOffset? suspendAt) => Set(() => (_graceEndsAt, _suspendAt) = (graceEndsAt, suspendAt));

    /// <summary>Adds granted features, in order (a later grant of the same key fails at <see cref="Build"/>).</summary>
    public SnapshotBuilder WithFeatures(params FeatureGrant[] features) => Set(() => _features.AddRange(features));

    /// <summary>Adds a boolean feature (limit -1, no reset).</summary>
    public SnapshotBuilder WithBoolean(string key, bool write = false, Degradation degradation = Degradation.FailClosed, long? maxStalenessSeconds = null) =>
        WithFeatures(new FeatureGrant(key, FeatureKind.Boolean, -1, ResetPeriod.None, write, Degradation: degradation,
            MaxStalenessSeconds: maxStalenessSeconds ?? Engine.Decisions.DegradationPolicy.DefaultMaxStalenessSeconds));

    /// <summary>Adds a metered feature: <paramref name="limit"/> units per <paramref name="period"/> (-1 = unlimited).</summary>
    public SnapshotBuilder WithMetered(
        string key, long limit, ResetPeriod period = ResetPeriod.Month, LimitMode mode = LimitMode.Hard, string? unit = null, bool write = false,
        Degradation degradation = Degradation.FailClosed, long? maxStalenessSeconds = null) =>
        WithFeatures(new FeatureGrant(key, FeatureKind.Metered, limit, period, write, mode, unit, degradation,
            maxStalenessSeconds ?? Engine.Decisions.DegradationPolicy.DefaultMaxStalenessSeconds));

    /// <summary>Adds features of the subscribed plan not granted because the subscription is inactive.</summary>
    public SnapshotBuilder WithInactive(params string[] featureKeys) => Set(() => _inactive.AddRange(featureKeys));

    public Snapshot Build() => new(
        _tenantId, _environment, _version, _planId, _planSource, _state, _comped, _suspended, _periodEnd, _generatedAt, _catalogVersion,
        _features, _inactive, _periodStart, _accessDeadline, _graceEndsAt, _suspendAt);

    private SnapshotBuilder Set(Action set)
    {
        set();
        return this;
    }
}
