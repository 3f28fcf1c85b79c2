using System.Collections.Concurrent;
using System.Threading.Channels;
using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Engine.Usage;
using Grpc.Core;
using Proto = EntitlementDecision.Contracts.V1;

namespace EntitlementDecision.Sidecar.Tests;

/// <summary>
/// An <see cref="ISnapshotSource"/> whose every read waits until the test completes it. The completion source runs
/// continuations synchronously on purpose: when <see cref="PendingLoad.Complete"/> returns, the cache has stored the result.
/// </summary>
internal sealed class ControllableSource : ISnapshotSource
{
    private readonly Channel<PendingLoad> _pending = Channel.CreateUnbounded<PendingLoad>();
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    public ValueTask<Snapshot?> GetAsync(TenantKey tenant, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        var load = new PendingLoad(tenant.TenantId, tenant.Environment);
        _pending.Writer.TryWrite(load);
        return new ValueTask<Snapshot?>(load.Completion.Task);
    }

    /// <summary>The next read the cache started (waits at most 10 s for it).</summary>
    public async Task<PendingLoad> NextLoad()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            return await _pending.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("the cache did not read the source within 10 s");
        }
    }

    /// <summary>True when a read was started that the test has not taken with <see cref="NextLoad"/>.</summary>
    public bool HasPendingLoad => _pending.Reader.TryPeek(out _);

    internal sealed class PendingLoad(string tenantId, string environment)
    {
        public string TenantId { get; } = tenantId;

        public string Environment { get; } = environment;

        public TaskCompletionSource<Snapshot?> Completion { get; } = new(TaskCreationOptions.None);

        public void Complete(Snapshot? snapshot) => Assert.True(Completion.TrySetResult(snapshot));

        public void Fail(Exception e) => Assert.True(Completion.TrySetException(e));
    }
}

/// <summary>A source answering from a dictionary at once; optionally unreachable. Records what it was asked.</summary>
internal sealed class DictionarySource : ISnapshotSource
{
    private readonly ConcurrentDictionary<(string Environment, string TenantId), Snapshot> _snapshots = new();

    public bool Unreachable { get; set; }

    public ConcurrentQueue<(string TenantId, string Environment)> Requests { get; } = new();

    public void Put(Snapshot snapshot) => _snapshots[(snapshot.Environment, snapshot.TenantId)] = snapshot;

    /// <summary>Forgets the tenant's production snapshot, as a Redis that lost its data would.</summary>
    public void Remove(string tenantId) => _snapshots.TryRemove(("production", tenantId), out _);

    public ValueTask<Snapshot?> GetAsync(TenantKey tenant, CancellationToken cancellationToken)
    {
        Requests.Enqueue((tenant.TenantId, tenant.Environment));
        if (Unreachable)
        {
            throw new StoreUnavailableException("fake store is down");
        }

        return new(_snapshots.TryGetValue((tenant.Environment, tenant.TenantId), out var s) ? s : null);
    }
}

internal static class TestData
{
    public static string NewTenant() => $"t-{Guid.NewGuid():N}";

    public static Snapshot Snapshot(
        string tenantId, long version, string environment = "production", bool suspended = false, DateTimeOffset? graceEndsAt = null, DateTimeOffset? suspendAt = null) =>
        SnapshotBuilder.For(tenantId)
            .WithEnvironment(environment)
            .WithVersion(version)
            .WithPlan($"plan-v{version}")
            .WithSuspended(suspended)
            .WithGeneratedAt(DateTimeOffset.UnixEpoch)
            .WithBoolean("projects")
            .WithMetered("api_calls", 10, ResetPeriod.Month)
            .WithMetered("exports", 3, ResetPeriod.Day)
            .WithMetered("events", -1, ResetPeriod.Month)
            .WithBoolean("project_edits", write: true)
            .WithBoolean("dashboards", degradation: Degradation.FailOpen, maxStalenessSeconds: 60)
            .WithMetered("searches", 5, ResetPeriod.Month, degradation: Degradation.FailOpen)
            .WithInactive("sso")
            .WithDunning(graceEndsAt, suspendAt)
            .Build();

    /// <summary>A <see cref="ServerCallContext"/> for calling handlers directly (they use only its cancellation token).</summary>
    public static ServerCallContext Context() => new TestServerCallContext(TestContext.Current.CancellationToken);
}

/// <summary>
/// <see cref="DecisionService"/> as the server runs it: every call goes through <see cref="StoreFailureInterceptor"/>, so the tests
/// see the statuses a client sees.
/// </summary>
internal sealed class ServiceUnderTest(ISnapshotSource snapshots, IUsageCounter usage, SidecarOptions options, TimeProvider time, SidecarMetrics? metrics = null)
{
    private readonly DecisionService _service = new(snapshots as ISnapshotReader ?? new UncachedReader(snapshots), usage, options, time, metrics: metrics);
    private readonly StoreFailureInterceptor _interceptor = new();

    public ValueTask<Proto.CheckEntitlementResponse> CheckEntitlementAsync(Proto.CheckEntitlementRequest request, ServerCallContext context) =>
        new(_interceptor.UnaryServerHandler(request, context, _service.CheckEntitlement));

    public ValueTask<Proto.CheckEntitlementsResponse> CheckEntitlementsAsync(Proto.CheckEntitlementsRequest request, ServerCallContext context) =>
        new(_interceptor.UnaryServerHandler(request, context, _service.CheckEntitlements));

    public ValueTask<Proto.RecordUsageResponse> RecordUsageAsync(Proto.RecordUsageRequest request, ServerCallContext context) =>
        new(_interceptor.UnaryServerHandler(request, context, _service.RecordUsage));
}

/// <summary>Reads straight from a source, every snapshot known current: the decision service without a cache in front.
/// A version below the asked minimum is not reached (no invalidations arrive here to wait for).</summary>
internal sealed class UncachedReader(ISnapshotSource source) : ISnapshotReader
{
    public ValueTask<Snapshot?> GetAsync(TenantKey tenant, CancellationToken cancellationToken) =>
        source.GetAsync(tenant, cancellationToken);

    public async ValueTask<HeldSnapshot> ReadAsync(TenantKey tenant, long minVersion, TimeSpan maxWait, CancellationToken cancellationToken)
    {
        var snapshot = await source.GetAsync(tenant, cancellationToken);
        return (snapshot?.Version ?? 0) >= minVersion
            ? new HeldSnapshot(snapshot, null)
            : throw new SnapshotVersionNotReachedException(minVersion, snapshot?.Version ?? 0, false, TimeSpan.Zero);
    }
}
