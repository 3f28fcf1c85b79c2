using System.Buffers;
using System.Diagnostics.Metrics;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Engine;
using EntitlementDecision.Sidecar;
using EntitlementDecision.Sidecar.DecisionLog;
using EntitlementDecision.TestSupport;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace EntitlementDecision.LoadTests.Benchmarks;

/// <summary>
/// The decision log's cost, split where it is paid: on the call (sampling and the queue, drop mode; each benchmark takes its record
/// back out of the queue, so the queue never fills and the writer thread's work is left out), and on the writer thread (one JSON line).
/// The handler pair compares CheckEntitlement with the decision log off and on in the same run.
/// </summary>
[MemoryDiagnoser]
public class DecisionLogBenchmarks
{
    private readonly DecisionRecord _granted = new(DateTimeOffset.UtcNow, "bench-tenant", "production", "advanced_reports", true, "GRANTED", 7, false, null, null);
    private readonly CheckEntitlementRequest _boolean = new() { TenantId = "bench-tenant", FeatureKey = "advanced_reports" };
    private readonly ArrayBufferWriter<byte> _buffer = new(64 * 1024);
    private string _spool = null!;
    private DecisionLogWriter _kept = null!;
    private DecisionLogWriter _sampledOut = null!;
    private DecisionLogWriter _full = null!;
    private Utf8JsonWriter _json = null!;
    private DecisionService _serviceOff = null!;
    private DecisionService _serviceOn = null!;
    private ServerCallContext _context = null!;

    [GlobalSetup]
    public void Setup()
    {
        _spool = Path.Combine(Path.GetTempPath(), $"ed-bench-decision-log-{Guid.NewGuid():N}");
        var meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
        DecisionLogWriter Writer(double sample, int capacity) =>
            new(new DecisionLogOptions { Directory = _spool, SampleAllowed = sample, Capacity = capacity }, meters, NullLogger<DecisionLogWriter>.Instance, TimeProvider.System);
        _kept = Writer(1, 1024);
        _sampledOut = Writer(0, 1024);
        _full = Writer(1, 1);
        _full.RecordAsync(_granted, default).GetAwaiter().GetResult();
        _json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = true });

        var snapshot = Fixtures.ProSnapshot();
        var options = new SidecarOptions();
        var cache = new SnapshotCache(new MemorySnapshotSource(snapshot), options, TimeProvider.System);
        _ = cache.GetAsync(new TenantKey(snapshot.Environment, snapshot.TenantId), default).AsTask().GetAwaiter().GetResult();
        _serviceOff = new DecisionService(cache, new ConstantUsageCounter(41_000), options, TimeProvider.System);
        _serviceOn = new DecisionService(cache, new ConstantUsageCounter(41_000), options, TimeProvider.System, _kept);
        _context = new TestServerCallContext(CancellationToken.None);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _kept.Dispose();
        _sampledOut.Dispose();
        _full.Dispose();
        _json.Dispose();
        if (Directory.Exists(_spool))
        {
            Directory.Delete(_spool, recursive: true);
        }
    }

    [Benchmark(Description = "DecisionLog.RecordAsync: kept (into the queue and out)")]
    public bool Kept()
    {
        _kept.RecordAsync(_granted, default).GetAwaiter().GetResult();
        return _kept.Queue.TryRead(out _);
    }

    [Benchmark(Description = "DecisionLog.RecordAsync: allowed, sampled out")]
    public void SampledOut() => _sampledOut.RecordAsync(_granted, default).GetAwaiter().GetResult();

    [Benchmark(Description = "DecisionLog.RecordAsync: queue full, dropped (drop mode)")]
    public void Dropped() => _full.RecordAsync(_granted, default).GetAwaiter().GetResult();

    [Benchmark(Description = "DecisionLog: one JSON line (writer thread)")]
    public int Encode()
    {
        if (_buffer.WrittenCount > 60 * 1024)
        {
            _buffer.ResetWrittenCount();
        }

        _granted.WriteTo(_json);
        _json.Flush();
        _json.Reset();
        return _buffer.WrittenCount;
    }

    [Benchmark(Description = "Handler: CheckEntitlement boolean, decision log off")]
    public CheckEntitlementResponse HandlerOff() => _serviceOff.CheckEntitlement(_boolean, _context).Result;

    [Benchmark(Description = "Handler: CheckEntitlement boolean, decision log on (record kept, queue drained)")]
    public CheckEntitlementResponse HandlerOn()
    {
        var response = _serviceOn.CheckEntitlement(_boolean, _context).Result;
        _kept.Queue.TryRead(out _);
        return response;
    }
}
