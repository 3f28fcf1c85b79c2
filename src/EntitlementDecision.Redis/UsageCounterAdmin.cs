using EntitlementDecision.Engine;
using StackExchange.Redis;

namespace EntitlementDecision.Redis;

/// <summary>One usage counter: (environment, tenant, feature, window key) and its value in units.</summary>
public sealed record UsageCounterValue(string Environment, string TenantId, string Feature, string WindowKey, long Value);

/// <summary>One dedupe marker to restore: the event id and how long it must still be remembered.</summary>
public sealed record UsageEventMarker(string Environment, string TenantId, string EventId, TimeSpan RemainingTtl);

/// <summary>
/// Maintenance access to the usage counters and dedupe markers (the keys of <see cref="RedisKeys.UsageCounter"/> and
/// <see cref="RedisKeys.UsageEvent"/>) for the control plane's ledger-rebuild-counters / ledger-check-counters commands.
/// Writes are pipelined; each key is written with one SET (value and expiry together), so a counter is never seen half-restored.
/// </summary>
public sealed class UsageCounterAdmin(IConnectionMultiplexer redis)
{
    /// <summary>Sets each counter to its value, expiring at the given instant (window end + <see cref="RedisUsageCounter.CounterRetention"/>).</summary>
    public async Task SetCountersAsync(IReadOnlyList<(UsageCounterValue Counter, DateTimeOffset ExpiresAt)> counters, DateTimeOffset now)
    {
        var db = redis.GetDatabase();
        var tasks = new List<Task>(counters.Count);
        foreach (var (c, expiresAt) in counters)
        {
            var ttl = expiresAt - now;
            if (ttl <= TimeSpan.Zero)
            {
                continue;
            }

            tasks.Add(db.StringSetAsync(RedisKeys.UsageCounter(new TenantKey(c.Environment, c.TenantId), c.Feature, c.WindowKey), c.Value, ttl));
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    /// <summary>Restores dedupe markers (value "1", TTL = the remaining part of <see cref="RedisUsageCounter.DedupeRetention"/>).</summary>
    public async Task SetEventMarkersAsync(IReadOnlyList<UsageEventMarker> markers)
    {
        var db = redis.GetDatabase();
        var tasks = markers.Where(m => m.RemainingTtl > TimeSpan.Zero)
            .Select(m => (Task)db.StringSetAsync(RedisKeys.UsageEvent(new TenantKey(m.Environment, m.TenantId), m.EventId), "1", m.RemainingTtl)).ToList();
        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    /// <summary>The counters' current values (null = no such key).</summary>
    public async Task<long?[]> GetCountersAsync(IReadOnlyList<UsageCounterValue> counters)
    {
        var db = redis.GetDatabase();
        var values = await Task.WhenAll(counters.Select(c => db.StringGetAsync(RedisKeys.UsageCounter(new TenantKey(c.Environment, c.TenantId), c.Feature, c.WindowKey)))).ConfigureAwait(false);
        return values.Select(v => v.IsNull ? (long?)null : (long)v).ToArray();
    }

    /// <summary>True for each event id that Redis remembers.</summary>
    public async Task<bool[]> HasEventMarkersAsync(IReadOnlyList<(string Environment, string TenantId, string EventId)> events)
    {
        var db = redis.GetDatabase();
        return await Task.WhenAll(events.Select(e => db.KeyExistsAsync(RedisKeys.UsageEvent(new TenantKey(e.Environment, e.TenantId), e.EventId)))).ConfigureAwait(false);
    }
}
