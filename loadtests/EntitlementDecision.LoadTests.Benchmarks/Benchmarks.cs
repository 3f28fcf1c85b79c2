using BenchmarkDotNet.Attributes;
using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Decisions;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Sidecar;
using EntitlementDecision.TestSupport;
using Grpc.Core;
using Snapshot = EntitlementDecision.Engine.Snapshots.Snapshot;

namespace EntitlementDecision.LoadTests.Benchmarks;

/// <summary>Evaluator.Evaluate: the pure decision. Target: at most 1 us and 0 B per decision.</summary>
[MemoryDiagnoser]
public class EvaluatorBenchmarks
{
    private readonly Snapshot _snapshot = Fixtures.ProSnapshot();
    private readonly DateTimeOffset _now = DateTimeOffset.UtcNow;

    [Benchmark(Description = "Evaluate: granted boolean")]
    public Decision GrantedBoolean() => Evaluator.Evaluate(_snapshot, "advanced_reports", 0, 0, _now);

    [Benchmark(Description = "Evaluate: metered within limit")]
    public Decision Metered() => Evaluator.Evaluate(_snapshot, "api_calls", 1, 41_000, _now);

    [Benchmark(Description = "Evaluate: not in plan (inactive)")]
    public Decision NotInPlan() => Evaluator.Evaluate(_snapshot, "sso", 0, 0, _now);
}

/// <summary>SnapshotCache.GetAsync when the tenant is cached (the sidecar's hot path: no I/O).</summary>
[MemoryDiagnoser]
public class SnapshotCacheBenchmarks
{
    private SnapshotCache _cache = null!;

    [GlobalSetup]
    public void Setup()
    {
        var snapshot = Fixtures.ProSnapshot();
        _cache = new SnapshotCache(new MemorySnapshotSource(snapshot), new SidecarOptions(), TimeProvider.System);
        _ = _cache.GetAsync(new TenantKey(snapshot.Environment, snapshot.TenantId), default).AsTask().GetAwaiter().GetResult();
        // 100k other tenants so the lookup is in a realistically sized table.
        for (var i = 0; i < 100_000; i++)
        {
            _cache.Apply(Fixtures.ProSnapshot($"t{i}"));
        }
    }

    [Benchmark(Description = "SnapshotCache.GetAsync: hit")]
    public Snapshot? Hit() => _cache.GetAsync(new TenantKey("production", "bench-tenant"), default).Result;
}

/// <summary>The whole in-process handler: DecisionService.CheckEntitlement (validation, L1 cache, usage read, evaluator,
/// response message) with a minimal ServerCallContext (no Kestrel, no framing: Grpc.AspNetCore's part is measured end to end).</summary>
[MemoryDiagnoser]
public class CheckEntitlementHandlerBenchmarks
{
    private DecisionService _service = null!;
    private ServerCallContext _context = null!;
    private readonly CheckEntitlementRequest _boolean = new() { TenantId = "bench-tenant", FeatureKey = "advanced_reports" };
    private readonly CheckEntitlementRequest _metered = new() { TenantId = "bench-tenant", FeatureKey = "api_calls", RequestedQuantity = 1 };

    [GlobalSetup]
    public void Setup()
    {
        var snapshot = Fixtures.ProSnapshot();
        var options = new SidecarOptions();
        var cache = new SnapshotCache(new MemorySnapshotSource(snapshot), options, TimeProvider.System);
        _ = cache.GetAsync(new TenantKey(snapshot.Environment, snapshot.TenantId), default).AsTask().GetAwaiter().GetResult();
        _service = new DecisionService(cache, new ConstantUsageCounter(41_000), options, TimeProvider.System);
        _context = new TestServerCallContext(CancellationToken.None);
    }

    [Benchmark(Description = "Handler: CheckEntitlement boolean")]
    public CheckEntitlementResponse Boolean() => _service.CheckEntitlement(_boolean, _context).Result;

    [Benchmark(Description = "Handler: CheckEntitlement metered")]
    public CheckEntitlementResponse Metered() => _service.CheckEntitlement(_metered, _context).Result;
}
