using System.Collections.Concurrent;
using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.Redis.Tests;

/// <summary>
/// What every <see cref="ISnapshotSource"/> (with its writer) must do. One suite, run against each implementation.
/// Writers follow the store's rule: a snapshot is written only when its version is higher than the stored one.
/// </summary>
public abstract class SnapshotSourceContractTests
{
    protected abstract ISnapshotSource Source { get; }

    /// <summary>Writes <paramref name="snapshot"/> when newer; true when written.</summary>
    protected abstract Task<bool> PublishAsync(Snapshot snapshot);

    [Fact]
    public async Task Absent_Null()
    {
        Assert.Null(await Source.GetAsync(new TenantKey("production", TestRedis.NewTenant()), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Published_ReadBackWithSameFields()
    {
        var tenant = TestRedis.NewTenant();
        var snapshot = TestRedis.Snapshot(tenant, 3, "staging", "business");

        Assert.True(await PublishAsync(snapshot));
        var read = await Source.GetAsync(new TenantKey("staging", tenant), TestContext.Current.CancellationToken);

        Assert.NotNull(read);
        Assert.Equal((tenant, "staging", 3L, "business", snapshot.GeneratedAt), (read.TenantId, read.Environment, read.Version, read.PlanId, read.GeneratedAt));
        Assert.Equal(snapshot.Features["api_calls"], read.Features["api_calls"]);
    }

    [Fact]
    public async Task OlderOrEqualVersion_NotWrittenAndNewestKept()
    {
        var tenant = TestRedis.NewTenant();

        Assert.True(await PublishAsync(TestRedis.Snapshot(tenant, 10, planId: "ten")));
        Assert.False(await PublishAsync(TestRedis.Snapshot(tenant, 10, planId: "ten-again")));
        Assert.False(await PublishAsync(TestRedis.Snapshot(tenant, 9, planId: "nine")));
        Assert.Equal("ten", (await Source.GetAsync(new TenantKey("production", tenant), TestContext.Current.CancellationToken))!.PlanId);

        Assert.True(await PublishAsync(TestRedis.Snapshot(tenant, 11, planId: "eleven")));
        Assert.Equal("eleven", (await Source.GetAsync(new TenantKey("production", tenant), TestContext.Current.CancellationToken))!.PlanId);
    }

    [Fact]
    public async Task EnvironmentsAndTenants_Isolated()
    {
        var tenant = TestRedis.NewTenant();
        var other = TestRedis.NewTenant();

        await PublishAsync(TestRedis.Snapshot(tenant, 1, "production", "prod-plan"));
        await PublishAsync(TestRedis.Snapshot(tenant, 1, "staging", "staging-plan"));

        Assert.Equal("prod-plan", (await Source.GetAsync(new TenantKey("production", tenant), TestContext.Current.CancellationToken))!.PlanId);
        Assert.Equal("staging-plan", (await Source.GetAsync(new TenantKey("staging", tenant), TestContext.Current.CancellationToken))!.PlanId);
        Assert.Null(await Source.GetAsync(new TenantKey("sandbox", tenant), TestContext.Current.CancellationToken));
        Assert.Null(await Source.GetAsync(new TenantKey("production", other), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task ConcurrentPublishes_HighestVersionWins()
    {
        var tenant = TestRedis.NewTenant();

        var written = await Task.WhenAll(Enumerable.Range(1, 40).Reverse().Select(v => PublishAsync(TestRedis.Snapshot(tenant, v))));

        Assert.Contains(true, written);
        Assert.Equal(40, (await Source.GetAsync(new TenantKey("production", tenant), TestContext.Current.CancellationToken))!.Version);
    }
}

public sealed class RedisSnapshotStoreContractTests : SnapshotSourceContractTests
{
    private readonly RedisSnapshotStore _store = new(TestRedis.Connection);

    protected override ISnapshotSource Source => _store;

    protected override Task<bool> PublishAsync(Snapshot snapshot) => _store.PublishAsync(snapshot);
}

public sealed class InMemorySnapshotSourceContractTests : SnapshotSourceContractTests
{
    private readonly InMemorySnapshotSource _store = new();

    protected override ISnapshotSource Source => _store;

    protected override Task<bool> PublishAsync(Snapshot snapshot) => Task.FromResult(_store.Publish(snapshot));
}

/// <summary>An in-process <see cref="ISnapshotSource"/> with the Redis store's write rule (higher version wins).</summary>
public sealed class InMemorySnapshotSource : ISnapshotSource
{
    private readonly ConcurrentDictionary<TenantKey, Snapshot> _snapshots = new();

    public bool Publish(Snapshot snapshot)
    {
        var key = snapshot.Key;
        while (true)
        {
            if (!_snapshots.TryGetValue(key, out var current))
            {
                if (_snapshots.TryAdd(key, snapshot))
                {
                    return true;
                }

                continue;
            }

            if (current.Version >= snapshot.Version)
            {
                return false;
            }

            if (_snapshots.TryUpdate(key, snapshot, current))
            {
                return true;
            }
        }
    }

    public ValueTask<Snapshot?> GetAsync(TenantKey tenant, CancellationToken cancellationToken) =>
        new(_snapshots.TryGetValue(tenant, out var s) ? s : null);
}
