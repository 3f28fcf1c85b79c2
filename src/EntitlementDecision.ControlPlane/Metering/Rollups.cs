using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>Wakes the rollup job (the ledger writer notifies after each commit that added receipts).</summary>
internal sealed class RollupSignal : Background.WakeSignal;

/// <summary>
/// Recomputes <c>usage_daily</c> (sum of accepted quantities, event count and soft-limit overage per tenant, environment, feature and
/// usage day, from <c>usage_ledger</c>) and <c>usage_integrity_daily</c> (per tenant, environment and day, from <c>usage_receipts</c>:
/// received = every stream entry; accepted, duplicate, limit_exceeded, rejected_undeclared, invalid by outcome; late / too_late /
/// undeclared / overage_events (past a soft limit) among the accepted ones). A recompute replaces the rows of the days it covers, so it can be repeated at will.
/// </summary>
internal static class Rollups
{
    private const string DailySelect = """
        SELECT l.tenant_id, l.environment, l.feature, l.usage_day, sum(l.quantity), count(*), sum(l.overage), @now
        FROM usage_ledger l
        """;

    private const string IntegritySelect = """
        SELECT r.tenant_id, r.environment, r.usage_day, count(*),
               count(*) FILTER (WHERE r.outcome = 'accepted'),
               count(*) FILTER (WHERE r.outcome = 'duplicate'),
               count(*) FILTER (WHERE r.outcome = 'accepted' AND r.lateness = 'late'),
               count(*) FILTER (WHERE r.outcome = 'accepted' AND r.lateness = 'too_late'),
               count(*) FILTER (WHERE r.outcome = 'limit_exceeded'),
               count(*) FILTER (WHERE r.outcome = 'rejected_undeclared'),
               count(*) FILTER (WHERE r.outcome = 'accepted' AND r.undeclared),
               count(*) FILTER (WHERE r.outcome = 'invalid'),
               count(*) FILTER (WHERE r.outcome = 'accepted' AND r.overage > 0),
               @now
        FROM usage_receipts r
        """;

    private const string DailyColumns = "usage_daily (tenant_id, environment, feature, day, quantity, events, overage, computed_at)";

    private const string IntegrityColumns =
        "usage_integrity_daily (tenant_id, environment, day, received, accepted, duplicate, late, too_late, limit_exceeded, rejected_undeclared, undeclared, invalid, overage_events, computed_at)";

    /// <summary>Takes up to <paramref name="max"/> queued (tenant, environment, day)s (SKIP LOCKED) and recomputes them in one transaction; returns how many.</summary>
    public static async Task<int> DrainQueueAsync(MeteringDbContext db, DateTimeOffset now, int max, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        var keys = new List<(string T, string E, DateOnly D)>();
        await using (var take = new NpgsqlCommand("""
            DELETE FROM usage_rollup_queue q USING (
              SELECT tenant_id, environment, day FROM usage_rollup_queue ORDER BY tenant_id, environment, day LIMIT @max FOR UPDATE SKIP LOCKED) k
            WHERE q.tenant_id = k.tenant_id AND q.environment = k.environment AND q.day = k.day
            RETURNING q.tenant_id, q.environment, q.day
            """, connection))
        {
            take.Parameters.AddWithValue("max", max);
            await using var reader = await take.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                keys.Add((reader.GetString(0), reader.GetString(1), reader.GetFieldValue<DateOnly>(2)));
            }
        }

        if (keys.Count > 0)
        {
            const string Join = " JOIN unnest(@t, @e, @d) AS k(t, e, d) ON {0}.tenant_id = k.t AND {0}.environment = k.e AND {0}.usage_day = k.d ";
            const string KeyFilter = " (tenant_id, environment, day) IN (SELECT * FROM unnest(@t, @e, @d)) ";
            await ExecAsync(connection, $"""
                DELETE FROM usage_daily WHERE {KeyFilter};
                INSERT INTO {DailyColumns} {DailySelect} {string.Format(Join, "l")} GROUP BY 1, 2, 3, 4;
                DELETE FROM usage_integrity_daily WHERE {KeyFilter};
                INSERT INTO {IntegrityColumns} {IntegritySelect} {string.Format(Join, "r")} GROUP BY 1, 2, 3;
                """, ct,
                ("t", keys.Select(k => k.T).ToArray()), ("e", keys.Select(k => k.E).ToArray()), ("d", keys.Select(k => k.D).ToArray()), ("now", now));
        }

        await tx.CommitAsync(ct);
        return keys.Count;
    }

    /// <summary>Recomputes every day in [<paramref name="from"/>, <paramref name="to"/>] for one tenant (or all when null), in one transaction.</summary>
    public static async Task RecomputeRangeAsync(MeteringDbContext db, string? tenantId, DateOnly from, DateOnly to, DateTimeOffset now, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        const string Filter = " (@tenant::text IS NULL OR tenant_id = @tenant) ";
        await ExecAsync(connection, $"""
            DELETE FROM usage_daily WHERE {Filter} AND day BETWEEN @from AND @to;
            INSERT INTO {DailyColumns} {DailySelect} WHERE {Filter.Replace("tenant_id", "l.tenant_id", StringComparison.Ordinal)} AND l.usage_day BETWEEN @from AND @to GROUP BY 1, 2, 3, 4;
            DELETE FROM usage_integrity_daily WHERE {Filter} AND day BETWEEN @from AND @to;
            INSERT INTO {IntegrityColumns} {IntegritySelect} WHERE {Filter.Replace("tenant_id", "r.tenant_id", StringComparison.Ordinal)} AND r.usage_day BETWEEN @from AND @to GROUP BY 1, 2, 3;
            DELETE FROM usage_rollup_queue WHERE {Filter} AND day BETWEEN @from AND @to;
            """, ct, ("tenant", (object?)tenantId ?? DBNull.Value), ("from", from), ("to", to), ("now", now));
        await tx.CommitAsync(ct);
    }

    private static async Task ExecAsync(NpgsqlConnection connection, string sql, CancellationToken ct, params (string Name, object Value)[] parameters)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value);
        }

        await cmd.ExecuteNonQueryAsync(ct);
    }
}

/// <summary>
/// The rollup job (hosted service): drains <c>usage_rollup_queue</c> when the ledger writer commits (at most once per
/// ED_USAGE_ROLLUP_MIN_GAP_SECONDS), and at least every ED_USAGE_ROLLUP_INTERVAL_SECONDS. Errors are logged and retried on the next round (the queue rows stay until a commit).
/// </summary>
internal sealed partial class RollupJob(IServiceScopeFactory scopes, MeteringOptions options, RollupSignal signal, TimeProvider time, ILogger<RollupJob> logger) : Background.BackgroundLoop(logger)
{
    protected override TimeProvider Time => time;

    protected override Background.WakeSignal Signal => signal;

    protected override async Task<TimeSpan?> PassAsync(CancellationToken stoppingToken)
    {
        if (await RunOnceAsync(stoppingToken) > 0)
        {
            // A busy ledger commits every few milliseconds, and each recompute re-reads a whole day of a tenant's rows:
            // recomputing on every commit would cost O(rows²) under load and starve the webhook path of PostgreSQL.
            // Commits during the gap still wake the next round (the signal keeps one notification).
            await Task.Delay(options.RollupMinGap, time, stoppingToken);
        }

        return options.RollupInterval;
    }

    /// <summary>Drains the whole queue; returns the number of (tenant, environment, day)s recomputed.</summary>
    public async Task<int> RunOnceAsync(CancellationToken ct)
    {
        var total = 0;
        int taken;
        do
        {
            await using var scope = scopes.CreateAsyncScope();
            taken = await Rollups.DrainQueueAsync(scope.ServiceProvider.GetRequiredService<MeteringDbContext>(), time.GetUtcNow(), 500, ct);
            total += taken;
        }
        while (taken == 500);
        return total;
    }
}
