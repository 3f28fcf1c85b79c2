using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.Sidecar.Tests;

public sealed class SnapshotCacheTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);
    private readonly ControllableSource _source = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 21, 12, 0, 0, TimeSpan.Zero));
    private readonly SnapshotCache _cache;
    private readonly string _tenant = TestData.NewTenant();

    public SnapshotCacheTests()
    {
        _cache = new SnapshotCache(_source, new SidecarOptions { NegativeCacheTtl = Ttl }, _time);
    }

    private ValueTask<Snapshot?> Get(string? tenant = null) => _cache.GetAsync(new TenantKey("production", tenant ?? _tenant), TestContext.Current.CancellationToken);

    /// <summary>Loads <paramref name="snapshot"/> (or an absence) into the cache through a first Get.</summary>
    private async Task<Snapshot?> Prime(Snapshot? snapshot)
    {
        var get = Get();
        (await _source.NextLoad()).Complete(snapshot);
        return await get;
    }

    [Fact]
    public async Task ConcurrentMisses_ShareOneLoad()
    {
        var gets = Enumerable.Range(0, 20).Select(_ => Get().AsTask()).ToArray();
        var load = await _source.NextLoad();

        Assert.Equal(1, _source.Calls);
        Assert.DoesNotContain(gets, g => g.IsCompleted);
        var v1 = TestData.Snapshot(_tenant, 1);
        load.Complete(v1);
        var results = await Task.WhenAll(gets).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.All(results, r => Assert.Same(v1, r));
        Assert.Equal(1, _source.Calls);
        Assert.Equal((_tenant, "production"), (load.TenantId, load.Environment));
    }

    [Fact]
    public async Task Hit_AnswersSynchronouslyWithoutLoad()
    {
        var v1 = await Prime(TestData.Snapshot(_tenant, 1));

        var hit = Get();

        Assert.True(hit.IsCompletedSuccessfully);
        Assert.Same(v1, await hit);
        Assert.Equal(1, _source.Calls);
        Assert.False(_source.HasPendingLoad);
    }

    [Fact]
    public async Task DifferentKeys_LoadSeparately()
    {
        var a = Get();
        var loadA = await _source.NextLoad();
        var b = _cache.GetAsync(new TenantKey("staging", _tenant), TestContext.Current.CancellationToken);
        var loadB = await _source.NextLoad();

        loadA.Complete(TestData.Snapshot(_tenant, 1));
        loadB.Complete(TestData.Snapshot(_tenant, 2, "staging"));

        Assert.Equal(1, (await a)!.Version);
        Assert.Equal(2, (await b)!.Version);
        Assert.Equal("staging", loadB.Environment);
    }

    [Fact]
    public async Task UnknownTenant_CachedForTtlThenReloaded()
    {
        Assert.Null(await Prime(null));

        _time.Advance(Ttl);
        var withinTtl = Get();
        Assert.True(withinTtl.IsCompletedSuccessfully);
        Assert.Null(await withinTtl);
        Assert.Equal(1, _source.Calls);

        _time.Advance(TimeSpan.FromMilliseconds(1));
        var afterTtl = Get();
        Assert.False(afterTtl.IsCompleted); // an expired absence is not answered from the cache
        var v1 = TestData.Snapshot(_tenant, 1);
        (await _source.NextLoad()).Complete(v1);

        Assert.Same(v1, await afterTtl);
        Assert.Equal(2, _source.Calls);
    }

    [Fact]
    public async Task ApplyNewer_Replaces()
    {
        await Prime(TestData.Snapshot(_tenant, 1));
        var v2 = TestData.Snapshot(_tenant, 2);

        Assert.True(_cache.Apply(v2));

        Assert.Same(v2, await Get());
        Assert.Equal(1, _source.Calls);
    }

    [Theory]
    [InlineData(5L)]
    [InlineData(4L)]
    [InlineData(1L)]
    public async Task ApplyOlderOrEqual_Ignored(long version)
    {
        var v5 = await Prime(TestData.Snapshot(_tenant, 5));

        Assert.False(_cache.Apply(TestData.Snapshot(_tenant, version)));

        Assert.Same(v5, await Get());
    }

    [Fact]
    public async Task ApplyOverCachedAbsence_Replaces()
    {
        await Prime(null);
        var v1 = TestData.Snapshot(_tenant, 1);

        Assert.True(_cache.Apply(v1));

        Assert.Same(v1, await Get());
        Assert.Equal(1, _source.Calls);
    }

    [Fact]
    public async Task ApplyForTenantNeverAsked_NotCachedAndLoadedOnFirstUse()
    {
        Assert.False(_cache.Apply(TestData.Snapshot(_tenant, 3)));
        Assert.Equal(0, _cache.Count);

        var get = Get();
        var v4 = TestData.Snapshot(_tenant, 4);
        (await _source.NextLoad()).Complete(v4);

        Assert.Same(v4, await get);
    }

    [Fact]
    public async Task FirstLoadReturnsOlderThanApplyMeanwhile_KeepsApplied()
    {
        var get = Get();
        var load = await _source.NextLoad();
        var v2 = TestData.Snapshot(_tenant, 2);
        _cache.Apply(v2); // the invalidation overtakes the read that started before v2 was written

        load.Complete(TestData.Snapshot(_tenant, 1));
        await get;

        Assert.Same(v2, await Get());
    }

    [Fact]
    public async Task RefreshReturnsOlderThanApplyMeanwhile_DoesNotGoBack()
    {
        await Prime(TestData.Snapshot(_tenant, 1));
        _cache.MarkAllStale();
        Assert.Equal(1, (await Get())!.Version); // starts the background reload
        var reload = await _source.NextLoad();
        var v3 = TestData.Snapshot(_tenant, 3);

        Assert.True(_cache.Apply(v3));
        reload.Complete(TestData.Snapshot(_tenant, 2));

        Assert.Same(v3, await Get());
        Assert.Equal(2, _source.Calls); // the kept entry is fresh again: no further reload
        Assert.False(_source.HasPendingLoad);
    }

    [Fact]
    public async Task ExpiredAbsenceReloadReturnsNullAfterApply_KeepsApplied()
    {
        await Prime(null);
        _time.Advance(Ttl + TimeSpan.FromSeconds(1));
        var get = Get();
        var load = await _source.NextLoad();
        var v1 = TestData.Snapshot(_tenant, 1);

        Assert.True(_cache.Apply(v1));
        load.Complete(null);

        Assert.Same(v1, await get);
        Assert.Same(v1, await Get());
    }

    [Fact]
    public async Task MarkAllStale_StaleValueAnsweredAndOneBackgroundReload()
    {
        var v1 = await Prime(TestData.Snapshot(_tenant, 1));
        _cache.MarkAllStale();

        var stale = Get();
        Assert.True(stale.IsCompletedSuccessfully);
        Assert.Same(v1, await stale);
        var reload = await _source.NextLoad();
        for (var i = 0; i < 5; i++)
        {
            Assert.Same(v1, await Get()); // still stale, the reload in flight is shared
        }

        Assert.Equal(2, _source.Calls);
        var v2 = TestData.Snapshot(_tenant, 2);
        reload.Complete(v2);

        Assert.Same(v2, await Get());
        Assert.Same(v2, await Get());
        Assert.Equal(2, _source.Calls);
        Assert.False(_source.HasPendingLoad);
    }

    [Fact]
    public async Task MarkAllStaleWithCachedAbsence_ReloadsBeforeAnswering()
    {
        await Prime(null);
        _cache.MarkAllStale();

        var get = Get();
        Assert.False(get.IsCompleted);
        var v1 = TestData.Snapshot(_tenant, 1);
        (await _source.NextLoad()).Complete(v1);

        Assert.Same(v1, await get);
    }

    [Fact]
    public async Task SourceUnavailableForCachedKey_StaleEntryKeepsAnswering()
    {
        var v1 = await Prime(TestData.Snapshot(_tenant, 1));
        _cache.MarkAllStale();

        Assert.Same(v1, await Get());
        (await _source.NextLoad()).Fail(new StoreUnavailableException("down"));
        Assert.Same(v1, await Get()); // still answers, and tries the source again
        (await _source.NextLoad()).Fail(new StoreUnavailableException("still down"));

        Assert.Same(v1, await Get());
        var v2 = TestData.Snapshot(_tenant, 2);
        (await _source.NextLoad()).Complete(v2);
        Assert.Same(v2, await Get());
    }

    [Fact]
    public async Task SourceUnavailableForExpiredAbsence_StillAnswersUnknown()
    {
        Assert.Null(await Prime(null));
        _time.Advance(Ttl + TimeSpan.FromMilliseconds(1));

        var get = Get();
        (await _source.NextLoad()).Fail(new StoreUnavailableException("down"));

        Assert.Null(await get);
        Assert.Equal(1, _cache.Count);
    }

    [Fact]
    public async Task SourceUnavailableForUncachedKey_Throws()
    {
        var gets = new[] { Get().AsTask(), Get().AsTask() };
        (await _source.NextLoad()).Fail(new StoreUnavailableException("down"));

        foreach (var get in gets)
        {
            await Assert.ThrowsAsync<StoreUnavailableException>(() => get);
        }

        Assert.Equal(0, _cache.Count);

        // The failed load is not remembered: the next use reads the source again.
        var retry = Get();
        var v1 = TestData.Snapshot(_tenant, 1);
        (await _source.NextLoad()).Complete(v1);
        Assert.Same(v1, await retry);
    }
}
