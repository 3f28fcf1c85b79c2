using System.Globalization;
using EntitlementDecision.Redis;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>A counter whose Redis value differs from the ledger's sum.</summary>
internal sealed record CounterMismatch(UsageCounterValue Ledger, long? Redis)
{
    public override string ToString() =>
        $"{Ledger.TenantId}/{Ledger.Environment} {Ledger.Feature} window {Ledger.WindowKey}: redis {(Redis is { } r ? r.ToString(CultureInfo.InvariantCulture) : "missing")}, ledger {Ledger.Value}";
}

/// <summary>
/// Rebuilds Redis usage state from the ledger after Redis lost its data, and checks it. The counters in scope are every
/// (tenant, environment, feature, window) of the ledger whose counter would still exist in Redis (window end +
/// <see cref="RedisUsageCounter.CounterRetention"/> after now: the current windows and the recently closed ones). A counter is the sum of
/// the accepted quantities of its window (limit_exceeded and duplicate outcomes never count). Dedupe markers are restored for
/// every ledger event received within <see cref="RedisUsageCounter.DedupeRetention"/>, with the remaining TTL. Window ends:
/// "dYYYYMMDD" + 1 day, "mYYYYMM" + 1 month, "bYYYYMMDDHHmmss" + 1 month (billing periods are monthly).
/// Run the rebuild while the ledger writer has caught up with the stream (entries still in the stream are not in the ledger yet).
/// </summary>
internal static class CounterRebuild
{
    public static async Task<List<(UsageCounterValue Counter, DateTimeOffset ExpiresAt)>> LedgerCountersAsync(MeteringDbContext db, DateTimeOffset now, string? tenantId, CancellationToken ct)
    {
        // A window can only still have a counter when it ended after now - retention; its events were received after its start.
        var oldestReceived = now - RedisUsageCounter.CounterRetention - TimeSpan.FromDays(62);
        var query = db.Ledger.AsNoTracking().Where(r => r.ReceivedAt >= oldestReceived);
        if (tenantId is not null)
        {
            query = query.Where(r => r.TenantId == tenantId);
        }

        var sums = await query.GroupBy(r => new { r.TenantId, r.Environment, r.Feature, r.WindowKey })
            .Select(g => new { g.Key.TenantId, g.Key.Environment, g.Key.Feature, g.Key.WindowKey, Sum = g.Sum(r => r.Quantity) })
            .ToListAsync(ct);
        var list = new List<(UsageCounterValue, DateTimeOffset)>();
        foreach (var s in sums.OrderBy(s => s.TenantId, StringComparer.Ordinal).ThenBy(s => s.Environment, StringComparer.Ordinal)
                     .ThenBy(s => s.Feature, StringComparer.Ordinal).ThenBy(s => s.WindowKey, StringComparer.Ordinal))
        {
            if (WindowEnd(s.WindowKey) is { } end && end + RedisUsageCounter.CounterRetention > now)
            {
                list.Add((new UsageCounterValue(s.Environment, s.TenantId, s.Feature, s.WindowKey, s.Sum), end + RedisUsageCounter.CounterRetention));
            }
        }

        return list;
    }

    /// <summary>Sets every counter in scope to the ledger's sum and restores the dedupe markers; returns (counters, markers) written.</summary>
    public static async Task<(int Counters, int Markers)> RebuildAsync(MeteringDbContext db, UsageCounterAdmin redis, DateTimeOffset now, string? tenantId, CancellationToken ct)
    {
        var counters = await LedgerCountersAsync(db, now, tenantId, ct);
        await redis.SetCountersAsync(counters, now);

        var markers = 0;
        var since = now - RedisUsageCounter.DedupeRetention;
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT environment, tenant_id, event_id, received_at FROM usage_ledger WHERE received_at > @since AND (@tenant::text IS NULL OR tenant_id = @tenant)", connection);
            cmd.Parameters.AddWithValue("since", since);
            cmd.Parameters.AddWithValue("tenant", (object?)tenantId ?? DBNull.Value);
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            var batch = new List<UsageEventMarker>(1000);
            while (await reader.ReadAsync(ct))
            {
                var received = reader.GetFieldValue<DateTimeOffset>(3);
                batch.Add(new UsageEventMarker(reader.GetString(0), reader.GetString(1), reader.GetString(2), RedisUsageCounter.DedupeRetention - (now - received)));
                if (batch.Count == 1000)
                {
                    await redis.SetEventMarkersAsync(batch);
                    markers += batch.Count;
                    batch.Clear();
                }
            }

            await redis.SetEventMarkersAsync(batch);
            markers += batch.Count;
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }

        return (counters.Count, markers);
    }

    /// <summary>Compares every counter in scope with Redis; returns (counters compared, mismatches).</summary>
    public static async Task<(int Compared, List<CounterMismatch> Mismatches)> CheckAsync(MeteringDbContext db, UsageCounterAdmin redis, DateTimeOffset now, string? tenantId, CancellationToken ct)
    {
        var counters = await LedgerCountersAsync(db, now, tenantId, ct);
        var values = await redis.GetCountersAsync(counters.Select(c => c.Counter).ToList());
        var mismatches = counters.Select((c, i) => (c.Counter, Redis: values[i]))
            .Where(x => x.Redis != x.Counter.Value)
            .Select(x => new CounterMismatch(x.Counter, x.Redis)).ToList();
        return (counters.Count, mismatches);
    }

    /// <summary>The exclusive end of a window key; null for a key this version does not know.</summary>
    public static DateTimeOffset? WindowEnd(string key)
    {
        if (key.Length == 9 && key[0] == 'd' && DateTime.TryParseExact(key[1..], "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var day))
        {
            return new DateTimeOffset(day, TimeSpan.Zero).AddDays(1);
        }

        if (key.Length == 7 && key[0] == 'm' && DateTime.TryParseExact(key[1..], "yyyyMM", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var month))
        {
            return new DateTimeOffset(month, TimeSpan.Zero).AddMonths(1);
        }

        if (key.Length == 15 && key[0] == 'b' && DateTime.TryParseExact(key[1..], "yyyyMMddHHmmss", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var period))
        {
            return new DateTimeOffset(period, TimeSpan.Zero).AddMonths(1);
        }

        return null;
    }
}
