using System.Collections.Concurrent;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.Sidecar;

/// <summary>
/// The sidecar's in-process (L1) snapshot cache, a decorator over the Redis <see cref="ISnapshotSource"/>.
/// <list type="bullet">
/// <item>A hit answers without I/O. A miss loads from the inner source once per key (concurrent misses share the load).</item>
/// <item>An absent tenant is cached as absent for <see cref="SidecarOptions.NegativeCacheTtl"/>, so unknown tenants cost no Redis read per call.</item>
/// <item><see cref="Apply"/> takes snapshots pushed by invalidations. A snapshot replaces the cached one only when its version is higher:
/// the cache never goes back to an older version, whatever order loads and invalidations arrive in.</item>
/// <item>After the invalidation subscription reconnects (messages may have been lost), <see cref="MarkAllStale"/> makes every entry
/// revalidate against the inner source on its next use, in the background; the stale entry keeps answering meanwhile.</item>
/// <item>Fallback policy: when the inner source is unreachable, a cached entry (even stale) keeps answering;
/// a key never loaded throws <see cref="StoreUnavailableException"/> (the gRPC layer answers UNAVAILABLE).</item>
/// </list>
/// </summary>
internal sealed class SnapshotCache(ISnapshotSource inner, SidecarOptions options, TimeProvider time) : ISnapshotSource
{
    private readonly ConcurrentDictionary<(string Environment, string TenantId), Entry> _entries = new();
    private readonly ConcurrentDictionary<(string Environment, string TenantId), Task<Entry>> _loads = new();
    private long _generation;

    /// <summary>Number of cached entries (present and absent tenants).</summary>
    public int Count => _entries.Count;

    public ValueTask<Snapshot?> GetAsync(string tenantId, string environment, CancellationToken cancellationToken)
    {
        var key = (environment, tenantId);
        if (_entries.TryGetValue(key, out var entry))
        {
            if (entry.Generation != Volatile.Read(ref _generation)
                || (entry.Snapshot is null && time.GetElapsedTime(entry.LoadedAt) > options.NegativeCacheTtl))
            {
                if (entry.Snapshot is null)
                {
                    // A cached absence past its TTL: ask the source now rather than answer "unknown" from stale data,
                    // but when the source is unreachable, the stale absence keeps answering like any stale entry.
                    return ReloadAbsentAsync(key);
                }

                _ = RefreshInBackground(key);
            }

            return new ValueTask<Snapshot?>(entry.Snapshot);
        }

        return LoadAsync(key);
    }

    /// <summary>Applies a snapshot pushed by an invalidation. Returns true when it replaced (or, during a first load, added) the entry.
    /// A tenant this sidecar has never been asked about is not cached (it loads on first use).</summary>
    public bool Apply(Snapshot snapshot)
    {
        var key = (snapshot.Environment, snapshot.TenantId);
        var generation = Volatile.Read(ref _generation);
        if (!_entries.ContainsKey(key) && _loads.ContainsKey(key)
            && _entries.TryAdd(key, new Entry(snapshot, time.GetTimestamp(), generation)))
        {
            // A first load is in flight and may read Redis before this write: keep the pushed snapshot (the load will not go back).
            return true;
        }

        while (_entries.TryGetValue(key, out var current))
        {
            if (current.Snapshot is not null && current.Snapshot.Version >= snapshot.Version)
            {
                return false;
            }

            if (_entries.TryUpdate(key, new Entry(snapshot, time.GetTimestamp(), generation), current))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Makes every entry revalidate against the source on its next use (after a lost subscription).</summary>
    public void MarkAllStale() => Interlocked.Increment(ref _generation);

    private async ValueTask<Snapshot?> LoadAsync((string Environment, string TenantId) key)
    {
        var entry = await SharedLoad(key).ConfigureAwait(false);
        return entry.Snapshot;
    }

    private async ValueTask<Snapshot?> ReloadAbsentAsync((string Environment, string TenantId) key)
    {
        try
        {
            return await LoadAsync(key).ConfigureAwait(false);
        }
        catch (StoreUnavailableException)
        {
            return null;
        }
    }

    private async Task RefreshInBackground((string Environment, string TenantId) key)
    {
        try
        {
            await SharedLoad(key).ConfigureAwait(false);
        }
        catch (StoreUnavailableException)
        {
            // Fallback policy: keep answering from the stale entry; the next use tries again.
        }
    }

    /// <summary>One load per key at a time: concurrent callers share the task, which leaves the table when it ends.</summary>
    private Task<Entry> SharedLoad((string Environment, string TenantId) key)
    {
        // Stale hits call this on every use until the reload ends: join a running load without allocating.
        if (_loads.TryGetValue(key, out var running))
        {
            return running;
        }

        var completion = new TaskCompletionSource<Entry>(TaskCreationOptions.RunContinuationsAsynchronously);
        var shared = _loads.GetOrAdd(key, completion.Task);
        if (shared == completion.Task)
        {
            _ = RunLoad(key, completion);
        }

        return shared;
    }

    private async Task RunLoad((string Environment, string TenantId) key, TaskCompletionSource<Entry> completion)
    {
        try
        {
            var entry = await LoadAndStoreAsync(key).ConfigureAwait(false);
            _loads.TryRemove(new KeyValuePair<(string, string), Task<Entry>>(key, completion.Task));
            completion.SetResult(entry);
        }
        catch (Exception e)
        {
            _loads.TryRemove(new KeyValuePair<(string, string), Task<Entry>>(key, completion.Task));
            completion.SetException(e);
        }
    }

    private async Task<Entry> LoadAndStoreAsync((string Environment, string TenantId) key)
    {
        {
            var generation = Volatile.Read(ref _generation);
            var loaded = await inner.GetAsync(key.TenantId, key.Environment, CancellationToken.None).ConfigureAwait(false);
            var fresh = new Entry(loaded, time.GetTimestamp(), generation);
            while (true)
            {
                if (!_entries.TryGetValue(key, out var current))
                {
                    if (_entries.TryAdd(key, fresh))
                    {
                        return fresh;
                    }

                    continue;
                }

                // Never go back: keep a newer snapshot that an invalidation applied while this load was in flight.
                if (current.Snapshot is not null && (loaded is null || current.Snapshot.Version > loaded.Version))
                {
                    var kept = current with { Generation = generation };
                    return _entries.TryUpdate(key, kept, current) ? kept : current;
                }

                if (_entries.TryUpdate(key, fresh, current))
                {
                    return fresh;
                }
            }
        }
    }

    private sealed record Entry(Snapshot? Snapshot, long LoadedAt, long Generation);
}
