using System.Collections.Concurrent;
using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.Sidecar;

/// <summary>
/// A snapshot as the sidecar holds it: <see cref="Snapshot"/> (null: the tenant is unknown) and <see cref="UnconfirmedFor"/>, how long
/// since the sidecar last knew it was current (null while it is known current: invalidation subscription live since it was confirmed);
/// <see cref="Loaded"/>: this read went to the source (a cache miss) rather than answering from memory.
/// </summary>
internal readonly record struct HeldSnapshot(Snapshot? Snapshot, TimeSpan? UnconfirmedFor, bool Loaded = false);

/// <summary>
/// The sidecar's in-process (L1) snapshot cache, a decorator over the Redis <see cref="ISnapshotSource"/>.
/// <list type="bullet">
/// <item>A hit answers without I/O. A miss loads from the inner source once per key (concurrent misses share the load).</item>
/// <item>An absent tenant is cached as absent for <see cref="SidecarOptions.NegativeCacheTtl"/>, so unknown tenants cost no Redis read per call.</item>
/// <item><see cref="Apply"/> takes snapshots pushed by invalidations. A snapshot replaces the cached one only when its version is higher:
/// the cache never goes back to an older version, whatever order loads and invalidations arrive in.</item>
/// <item>After the invalidation subscription reconnects (messages may have been lost), <see cref="MarkAllStale"/> makes every entry
/// revalidate against the inner source on its next use, in the background; the stale entry keeps answering meanwhile.</item>
/// <item>Freshness: an entry is confirmed when loaded from the source or pushed (or re-pushed at the same version). While the
/// subscription is live (<see cref="SetLive"/>) a confirmed entry stays current; otherwise <see cref="HeldSnapshot.UnconfirmedFor"/>
/// says since when it may be stale, for the degradation policy.</item>
/// <item>When the inner source is unreachable, a cached entry (even stale) keeps answering;
/// a key never loaded throws <see cref="StoreUnavailableException"/> (the gRPC layer answers UNAVAILABLE).</item>
/// <item>Read-your-writes: <see cref="ReadAsync"/> with a minimum version reloads and waits for the invalidation until the entry
/// reaches it, or throws <see cref="SnapshotVersionNotReachedException"/>.</item>
/// </list>
/// </summary>
internal sealed class SnapshotCache(ISnapshotSource inner, SidecarOptions options, TimeProvider time) : ISnapshotReader
{
    private static readonly TimeSpan VersionPollInterval = TimeSpan.FromMilliseconds(50);
    private readonly ConcurrentDictionary<TenantKey, Entry> _entries = new();
    private readonly ConcurrentDictionary<TenantKey, Task<Entry>> _loads = new();
    private readonly ConcurrentDictionary<TenantKey, TaskCompletionSource> _applied = new();

    // When the subscription of each ended generation was lost (timestamp): the latest time its entries were known current.
    private readonly ConcurrentDictionary<long, long> _generationLostAt = new();
    private long _generation;

    // The host subscribes before it serves, so a new cache starts live; SetLive(false) records when the subscription was lost.
    private volatile bool _live = true;
    private long _lostAt;

    /// <summary>Number of cached entries (present and absent tenants).</summary>
    public int Count => _entries.Count;

    public async ValueTask<Snapshot?> GetAsync(TenantKey tenant, CancellationToken cancellationToken) =>
        (await ReadAsync(tenant, 0, TimeSpan.Zero, cancellationToken).ConfigureAwait(false)).Snapshot;

    /// <summary>
    /// The held snapshot of <paramref name="key"/> and its freshness. <paramref name="minVersion"/> > 0: when the held version is lower,
    /// reloads from the source and waits for invalidations until it is reached, for at most <paramref name="maxWait"/> (the caller
    /// bounds it by <see cref="SidecarOptions.MaxVersionWait"/> and the call's deadline); then throws <see cref="SnapshotVersionNotReachedException"/>.
    /// </summary>
    public ValueTask<HeldSnapshot> ReadAsync(TenantKey key, long minVersion, TimeSpan maxWait, CancellationToken cancellationToken)
    {
        if (!_entries.TryGetValue(key, out var entry))
        {
            return LoadAsync(key, minVersion, maxWait, cancellationToken);
        }

        if (entry.Generation != Volatile.Read(ref _generation)
            || (entry.Snapshot is null && time.GetElapsedTime(entry.LoadedAt) > options.NegativeCacheTtl))
        {
            if (entry.Snapshot is null)
            {
                // A cached absence past its TTL: ask the source now rather than answer "unknown" from stale data,
                // but when the source is unreachable, the stale absence keeps answering like any stale entry.
                return ReloadAbsentAsync(key, minVersion, maxWait, cancellationToken);
            }

            _ = RefreshInBackground(key);
        }

        return (entry.Snapshot?.Version ?? 0) >= minVersion
            ? new ValueTask<HeldSnapshot>(Hold(entry))
            : WaitForVersionAsync(key, minVersion, maxWait, cancellationToken);
    }

    /// <summary>Applies a snapshot pushed by an invalidation. Returns true when it replaced (or, during a first load, added) the entry.
    /// The same version again confirms the entry. A tenant this sidecar has never been asked about is not cached (it loads on first use).</summary>
    public bool Apply(Snapshot snapshot)
    {
        var key = snapshot.Key;
        var applied = TryApply(key, snapshot);
        if (_applied.TryRemove(key, out var waiters))
        {
            waiters.TrySetResult();
        }

        return applied;
    }

    /// <summary>The longest <see cref="HeldSnapshot.UnconfirmedFor"/> over the held snapshots (zero when all are known current). O(entries): for scrapes and probes.</summary>
    public TimeSpan MaxUnconfirmedAge()
    {
        var max = TimeSpan.Zero;
        foreach (var (_, entry) in _entries)
        {
            if (Hold(entry).UnconfirmedFor is { } age && age > max)
            {
                max = age;
            }
        }

        return max;
    }

    /// <summary>Makes every entry revalidate against the source on its next use (after a lost subscription).</summary>
    public void MarkAllStale()
    {
        var ended = Volatile.Read(ref _generation);
        var lostAt = Interlocked.Read(ref _lostAt);
        _generationLostAt[ended] = !_live && lostAt != 0 ? lostAt : time.GetTimestamp();
        Interlocked.Increment(ref _generation);
    }

    /// <summary>The invalidation subscription went down (false) or is live again (true).</summary>
    public void SetLive(bool live)
    {
        if (!live && _live)
        {
            Interlocked.Exchange(ref _lostAt, time.GetTimestamp());
        }

        _live = live;
    }

    private bool TryApply(TenantKey key, Snapshot snapshot)
    {
        var generation = Volatile.Read(ref _generation);
        var now = time.GetTimestamp();
        var pushed = new Entry(snapshot, now, generation, now, generation);
        if (!_entries.ContainsKey(key) && _loads.ContainsKey(key) && _entries.TryAdd(key, pushed))
        {
            // A first load is in flight and may read Redis before this write: keep the pushed snapshot (the load will not go back).
            return true;
        }

        while (_entries.TryGetValue(key, out var current))
        {
            if (current.Snapshot is not null && current.Snapshot.Version > snapshot.Version)
            {
                return false;
            }

            if (current.Snapshot is not null && current.Snapshot.Version == snapshot.Version)
            {
                // Re-published (e.g. by the healer after Redis lost its data): the held snapshot is confirmed current.
                _entries.TryUpdate(key, current with { ConfirmedAt = now, ConfirmedGeneration = generation }, current);
                return false;
            }

            if (_entries.TryUpdate(key, pushed, current))
            {
                return true;
            }
        }

        return false;
    }

    private HeldSnapshot Hold(Entry entry)
    {
        if (entry.Snapshot is null)
        {
            return default;
        }

        var generation = Volatile.Read(ref _generation);
        long since;
        if (entry.ConfirmedGeneration == generation)
        {
            if (_live)
            {
                return new HeldSnapshot(entry.Snapshot, null);
            }

            since = Math.Max(entry.ConfirmedAt, Interlocked.Read(ref _lostAt));
        }
        else
        {
            since = Math.Max(entry.ConfirmedAt, _generationLostAt.GetValueOrDefault(entry.ConfirmedGeneration, entry.ConfirmedAt));
        }

        return new HeldSnapshot(entry.Snapshot, time.GetElapsedTime(since));
    }

    private async ValueTask<HeldSnapshot> LoadAsync(TenantKey key, long minVersion, TimeSpan maxWait, CancellationToken ct)
    {
        var entry = await SharedLoad(key).ConfigureAwait(false);
        return (entry.Snapshot?.Version ?? 0) >= minVersion ? Hold(entry) with { Loaded = true } : await WaitForVersionAsync(key, minVersion, maxWait, ct).ConfigureAwait(false);
    }

    private async ValueTask<HeldSnapshot> ReloadAbsentAsync(TenantKey key, long minVersion, TimeSpan maxWait, CancellationToken ct)
    {
        try
        {
            return await LoadAsync(key, minVersion, maxWait, ct).ConfigureAwait(false);
        }
        catch (StoreUnavailableException) when (minVersion == 0)
        {
            return default;
        }
    }

    /// <summary>Reloads, then waits for an invalidation or polls the source, until the entry holds <paramref name="minVersion"/>.</summary>
    private async ValueTask<HeldSnapshot> WaitForVersionAsync(TenantKey key, long minVersion, TimeSpan maxWait, CancellationToken ct)
    {
        var started = time.GetTimestamp();
        long held = 0;
        var unreachable = false;
        while (true)
        {
            var applied = _applied.GetOrAdd(key, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            try
            {
                var entry = await SharedLoad(key).ConfigureAwait(false);
                unreachable = false;
                held = entry.Snapshot?.Version ?? 0;
                if (held >= minVersion)
                {
                    return Hold(entry) with { Loaded = true };
                }
            }
            catch (StoreUnavailableException)
            {
                unreachable = true;
                held = _entries.TryGetValue(key, out var cached) ? cached.Snapshot?.Version ?? 0 : 0;
                if (held >= minVersion)
                {
                    return Hold(cached!);
                }
            }

            var left = maxWait - time.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                throw new SnapshotVersionNotReachedException(minVersion, held, unreachable, maxWait);
            }

            await Task.WhenAny(applied.Task, Task.Delay(left < VersionPollInterval ? left : VersionPollInterval, time, ct)).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
        }
    }

    private async Task RefreshInBackground(TenantKey key)
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
    private Task<Entry> SharedLoad(TenantKey key)
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

    private async Task RunLoad(TenantKey key, TaskCompletionSource<Entry> completion)
    {
        try
        {
            var entry = await LoadAndStoreAsync(key).ConfigureAwait(false);
            _loads.TryRemove(new KeyValuePair<TenantKey, Task<Entry>>(key, completion.Task));
            completion.SetResult(entry);
        }
        catch (Exception e)
        {
            _loads.TryRemove(new KeyValuePair<TenantKey, Task<Entry>>(key, completion.Task));
            completion.SetException(e);
        }
    }

    private async Task<Entry> LoadAndStoreAsync(TenantKey key)
    {
        var generation = Volatile.Read(ref _generation);
        var loaded = await inner.GetAsync(key, CancellationToken.None).ConfigureAwait(false);
        var now = time.GetTimestamp();
        var fresh = new Entry(loaded, now, generation, now, generation);
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

            // Never go back: keep a newer snapshot that an invalidation applied while this load was in flight. The source
            // confirms it only when it holds the same version (absent or older: Redis lost data or lags, the entry stays unconfirmed).
            if (current.Snapshot is not null && (loaded is null || current.Snapshot.Version >= loaded.Version))
            {
                var kept = loaded is not null && current.Snapshot.Version == loaded.Version
                    ? current with { Generation = generation, ConfirmedAt = now, ConfirmedGeneration = generation }
                    : current with { Generation = generation };
                return _entries.TryUpdate(key, kept, current) ? kept : current;
            }

            if (_entries.TryUpdate(key, fresh, current))
            {
                return fresh;
            }
        }
    }

    /// <summary>A cached snapshot (null: absent). LoadedAt: last store (negative-cache TTL); Generation: last revalidation;
    /// ConfirmedAt/ConfirmedGeneration: when the snapshot was last known current.</summary>
    private sealed record Entry(Snapshot? Snapshot, long LoadedAt, long Generation, long ConfirmedAt, long ConfirmedGeneration);
}

/// <summary>
/// A check asked for a snapshot version (min_snapshot_version) the sidecar could not reach in time: <see cref="Held"/> is the version
/// it holds (0: none), <see cref="StoreUnreachable"/> whether Redis failed to answer. Answered FAILED_PRECONDITION.
/// </summary>
internal sealed class SnapshotVersionNotReachedException(long wanted, long held, bool storeUnreachable, TimeSpan waited)
    : Exception($"snapshot version {wanted} not reached within {waited.TotalMilliseconds:0} ms: the sidecar holds version {held}"
        + (storeUnreachable ? " and the snapshot store is unreachable" : "; retry, or check without min_snapshot_version"))
{
    public long Held { get; } = held;

    public bool StoreUnreachable { get; } = storeUnreachable;
}
