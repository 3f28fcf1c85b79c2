using System.Buffers;
using BenchmarkDotNet.Attributes;
using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Engine.Decisions;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Grpc;
using EntitlementDecision.Grpc.Internal;
using EntitlementDecision.Sidecar;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
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
        _ = _cache.GetAsync(snapshot.TenantId, snapshot.Environment, default).AsTask().GetAwaiter().GetResult();
        // 100k other tenants so the lookup is in a realistically sized table.
        for (var i = 0; i < 100_000; i++)
        {
            _cache.Apply(Fixtures.ProSnapshot($"t{i}"));
        }
    }

    [Benchmark(Description = "SnapshotCache.GetAsync: hit")]
    public Snapshot? Hit() => _cache.GetAsync("bench-tenant", "production", default).Result;
}

/// <summary>The gRPC framing the server does per unary call: read the 5-byte header from a ReadOnlySequence and parse the
/// message (as UnaryServerMethod does), then size, frame and write the response message into a buffer writer.</summary>
[MemoryDiagnoser]
public class FramingBenchmarks
{
    private readonly MessageParser<CheckEntitlementRequest> _parser = new(static () => new CheckEntitlementRequest());
    private readonly ArrayBufferWriter<byte> _writer = new(256);
    private ReadOnlySequence<byte> _single;
    private ReadOnlySequence<byte> _split;
    private CheckEntitlementResponse _response = null!;

    [GlobalSetup]
    public void Setup()
    {
        var request = new CheckEntitlementRequest { TenantId = "tenant-000042", Environment = "production", FeatureKey = "advanced_reports" };
        var frame = new byte[GrpcProtocol.HeaderSize + request.CalculateSize()];
        GrpcProtocol.WriteHeader(frame, compressed: false, request.CalculateSize());
        request.WriteTo(frame.AsSpan(GrpcProtocol.HeaderSize));
        _single = new ReadOnlySequence<byte>(frame);
        _split = Segments.Split(frame, 3); // header split across segments, as a small HTTP/2 DATA frame may arrive
        _response = EntitlementDecisionService.ToResponse(Evaluator.Evaluate(Fixtures.ProSnapshot(), "advanced_reports", 0, 0, DateTimeOffset.UtcNow));
    }

    [Benchmark(Description = "Framing: parse request (1 segment)")]
    public CheckEntitlementRequest ParseSingle() => Parse(_single);

    [Benchmark(Description = "Framing: parse request (2 segments)")]
    public CheckEntitlementRequest ParseSplit() => Parse(_split);

    [Benchmark(Description = "Framing: write response")]
    public int WriteResponse()
    {
        _writer.ResetWrittenCount();
        var size = _response.CalculateSize();
        var span = _writer.GetSpan(GrpcProtocol.HeaderSize + size);
        GrpcProtocol.WriteHeader(span, compressed: false, size);
        _response.WriteTo(span.Slice(GrpcProtocol.HeaderSize, size));
        _writer.Advance(GrpcProtocol.HeaderSize + size);
        return _writer.WrittenCount;
    }

    private CheckEntitlementRequest Parse(in ReadOnlySequence<byte> buffer)
    {
        byte flag;
        uint length;
        if (buffer.FirstSpan.Length >= GrpcProtocol.HeaderSize)
        {
            GrpcProtocol.ReadHeader(buffer.FirstSpan, out flag, out length);
        }
        else
        {
            Span<byte> header = stackalloc byte[GrpcProtocol.HeaderSize];
            buffer.Slice(0, GrpcProtocol.HeaderSize).CopyTo(header);
            GrpcProtocol.ReadHeader(header, out flag, out length);
        }

        var payload = buffer.Slice(GrpcProtocol.HeaderSize, length);
        return flag == 0 && payload.IsSingleSegment ? _parser.ParseFrom(payload.FirstSpan) : _parser.ParseFrom(payload);
    }
}

/// <summary>The whole in-process handler: EntitlementDecisionService.CheckEntitlementAsync (validation, L1 cache, usage read, evaluator,
/// response message) with a ServerCallContext built on a DefaultHttpContext (no Kestrel, no framing).</summary>
[MemoryDiagnoser]
public class CheckEntitlementHandlerBenchmarks
{
    private EntitlementDecisionService _service = null!;
    private ServerCallContext _context = null!;
    private readonly CheckEntitlementRequest _boolean = new() { TenantId = "bench-tenant", FeatureKey = "advanced_reports" };
    private readonly CheckEntitlementRequest _metered = new() { TenantId = "bench-tenant", FeatureKey = "api_calls", RequestedQuantity = 1 };

    [GlobalSetup]
    public void Setup()
    {
        var snapshot = Fixtures.ProSnapshot();
        var options = new SidecarOptions();
        var cache = new SnapshotCache(new MemorySnapshotSource(snapshot), options, TimeProvider.System);
        _ = cache.GetAsync(snapshot.TenantId, snapshot.Environment, default).AsTask().GetAwaiter().GetResult();
        _service = new EntitlementDecisionService(cache, new ConstantUsageCounter(41_000), options, TimeProvider.System);
        _context = new ServerCallContext(new DefaultHttpContext(), "/entitlements.v1.EntitlementDecisionService/CheckEntitlement", null, CancellationToken.None);
    }

    [Benchmark(Description = "Handler: CheckEntitlement boolean")]
    public CheckEntitlementResponse Boolean() => _service.CheckEntitlementAsync(_boolean, _context).Result;

    [Benchmark(Description = "Handler: CheckEntitlement metered")]
    public CheckEntitlementResponse Metered() => _service.CheckEntitlementAsync(_metered, _context).Result;
}

/// <summary>Builds a two-segment ReadOnlySequence.</summary>
internal sealed class Segments : ReadOnlySequenceSegment<byte>
{
    private Segments(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public static ReadOnlySequence<byte> Split(byte[] data, int at)
    {
        var first = new Segments(data.AsMemory(0, at), 0);
        var second = new Segments(data.AsMemory(at), at);
        first.Next = second;
        return new ReadOnlySequence<byte>(first, 0, second, second.Memory.Length);
    }
}
