using System.Diagnostics.Metrics;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Observability;
using EntitlementDecision.ControlPlane.Snapshots;
using EntitlementDecision.Redis;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace EntitlementDecision.ControlPlane.Hosting;

/// <summary>/readyz: PostgreSQL answers and every migration (entitlements and metering) is applied. Applied once, it stays applied.</summary>
internal sealed class PostgresReadyCheck(IServiceScopeFactory scopes) : IHealthCheck
{
    private volatile bool _migrated;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<EntitlementsDbContext>();
            if (!await db.Database.CanConnectAsync(cancellationToken))
            {
                return HealthCheckResult.Unhealthy("PostgreSQL does not answer");
            }

            if (!_migrated)
            {
                var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).Count()
                    + (await scope.ServiceProvider.GetRequiredService<Metering.MeteringDbContext>().Database.GetPendingMigrationsAsync(cancellationToken)).Count();
                if (pending > 0)
                {
                    return HealthCheckResult.Unhealthy($"{pending} database migrations not applied yet (run 'migrate')");
                }

                _migrated = true;
            }

            return HealthCheckResult.Healthy("PostgreSQL answers, migrations applied");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy("PostgreSQL does not answer: " + e.GetType().Name);
        }
    }
}

/// <summary>/readyz: Redis answers a PING within 2 s.</summary>
internal sealed class RedisReadyCheck(RedisConnection redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var connection = await redis.GetAsync().WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
            var rtt = await connection.GetDatabase().PingAsync().WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
            return HealthCheckResult.Healthy($"Redis answers ({rtt.TotalMilliseconds:0.0} ms)");
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy("Redis does not answer: " + e.GetType().Name);
        }
    }
}

/// <summary>
/// Gauges read from the stores every <see cref="Period"/> (a scrape never queries the database): the webhook backlog's age, tenants
/// in dunning by access mode, open reconciliation drift, the ledger lag (oldest usage event in Redis not yet in the ledger), today's
/// rollup integrity counts and the rollup queue.
/// A failed read leaves the previous values (and logs at debug level): readiness reports store outages, not these gauges.
/// </summary>
internal sealed partial class OperationalGauges : BackgroundService
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(10);
    private readonly IServiceScopeFactory _scopes;
    private readonly RedisConnection _redis;
    private readonly Engine.Resolution.DunningPolicy _dunning;
    private readonly TimeProvider _time;
    private readonly ILogger<OperationalGauges> _logger;
    private readonly Meter _meter = new(ControlPlaneTelemetry.Name + ".Gauges");
    private double _backlogAge, _ledgerLag;
    private long _openDrift, _dunningFull, _dunningReadOnly, _dunningSuspended, _rollupQueue;
    private volatile IReadOnlyList<(string Class, long Count)> _integrity = [];

    public OperationalGauges(IServiceScopeFactory scopes, RedisConnection redis, Engine.Resolution.DunningPolicy dunning, TimeProvider time, ILogger<OperationalGauges> logger)
    {
        (_scopes, _redis, _dunning, _time, _logger) = (scopes, redis, dunning, time, logger);
        _meter.CreateObservableGauge("ed.webhook.backlog_age", () => Volatile.Read(ref _backlogAge), "s", "Age of the oldest stored webhook event not yet processed (0: none)");
        _meter.CreateObservableGauge("ed.ledger.lag", () => Volatile.Read(ref _ledgerLag), "s", "Age of the oldest usage event accepted in Redis and not yet in the PostgreSQL ledger (0: none)");
        _meter.CreateObservableGauge("ed.reconciliation.open_drift", () => Interlocked.Read(ref _openDrift), "{mismatch}", "Drift reported (not repaired) by the latest completed reconciliation run");
        _meter.CreateObservableGauge("ed.billing.dunning_tenants", () => new Measurement<long>[]
        {
            new(Interlocked.Read(ref _dunningFull), new KeyValuePair<string, object?>("access_mode", "full")),
            new(Interlocked.Read(ref _dunningReadOnly), new KeyValuePair<string, object?>("access_mode", "read_only")),
            new(Interlocked.Read(ref _dunningSuspended), new KeyValuePair<string, object?>("access_mode", "suspended")),
        }, "{tenant}", "Tenants with an unpaid invoice, by the access mode the dunning policy gives them now");
        _meter.CreateObservableGauge("ed.usage.integrity_today", () => _integrity.Select(x => new Measurement<long>(x.Count, new KeyValuePair<string, object?>("class", x.Class))),
            "{event}", "Today's (UTC) usage events in the rollups' integrity report, by class: received, accepted, duplicate, late, too_late, limit_exceeded, rejected_undeclared, invalid");
        _meter.CreateObservableGauge("ed.usage.rollup_queue", () => Interlocked.Read(ref _rollupQueue), "{day}", "Tenant-days waiting for their rollup recompute");
    }

    /// <summary>Meter name, for <see cref="ControlPlaneTelemetrySetup.Settings"/>.</summary>
    public const string MeterName = ControlPlaneTelemetry.Name + ".Gauges";

    public override void Dispose()
    {
        _meter.Dispose();
        base.Dispose();
    }

    /// <summary>One sampling pass (also called by tests).</summary>
    internal async Task SampleAsync(CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        try
        {
            await using var scope = _scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<EntitlementsDbContext>();
            var oldest = await db.StripeEvents.Where(e => e.Status == StripeEventRecord.Pending).Select(e => (DateTimeOffset?)e.ReceivedAt).MinAsync(ct);
            Volatile.Write(ref _backlogAge, oldest is { } o ? Math.Max(0, (now - o).TotalSeconds) : 0);

            var starts = await db.Entitlements.Where(e => e.DunningStartedAt != null).Select(e => e.DunningStartedAt!.Value).ToListAsync(ct);
            long full = 0, readOnly = 0, suspended = 0;
            foreach (var start in starts)
            {
                var (graceEndsAt, suspendAt) = _dunning.Schedule(start); // the resolver's schedule, read as Snapshot.AccessAt reads it
                if (now < graceEndsAt) { full++; } else if (now < suspendAt) { readOnly++; } else { suspended++; }
            }

            (_dunningFull, _dunningReadOnly, _dunningSuspended) = (full, readOnly, suspended);
            var lastRun = await db.ReconciliationRuns.Where(r => r.Status == ReconciliationRun.Completed && r.TenantId == null)
                .OrderByDescending(r => r.Id).Select(r => (long?)r.Id).FirstOrDefaultAsync(ct);
            Interlocked.Exchange(ref _openDrift, lastRun is { } run ? await db.ReconciliationMismatches.CountAsync(m => m.RunId == run && m.Action == "reported", ct) : 0);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogSampleFailed(_logger, "postgresql", e.GetType().Name);
        }

        try
        {
            await using var scope = _scopes.CreateAsyncScope();
            var metering = scope.ServiceProvider.GetRequiredService<Metering.MeteringDbContext>();
            var today = DateOnly.FromDateTime(now.UtcDateTime);
            var sums = await metering.DailyIntegrity.Where(d => d.Day == today).GroupBy(_ => 1).Select(g => new
            {
                Received = g.Sum(d => d.Received), Accepted = g.Sum(d => d.Accepted), Duplicate = g.Sum(d => d.Duplicate), Late = g.Sum(d => d.Late),
                TooLate = g.Sum(d => d.TooLate), LimitExceeded = g.Sum(d => d.LimitExceeded), RejectedUndeclared = g.Sum(d => d.RejectedUndeclared), Invalid = g.Sum(d => d.Invalid),
            }).FirstOrDefaultAsync(ct);
            _integrity = sums is null ? [] :
            [
                ("received", sums.Received), ("accepted", sums.Accepted), ("duplicate", sums.Duplicate), ("late", sums.Late), ("too_late", sums.TooLate),
                ("limit_exceeded", sums.LimitExceeded), ("rejected_undeclared", sums.RejectedUndeclared), ("invalid", sums.Invalid),
            ];
            Interlocked.Exchange(ref _rollupQueue, await metering.RollupQueue.LongCountAsync(ct));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogSampleFailed(_logger, "postgresql (metering)", e.GetType().Name);
        }

        try
        {
            // The ledger lags by its oldest unacknowledged entry over every shard's stream.
            var oldestPerShard = await Task.WhenAll(UsageStreamConsumer.ForAllShards(await _redis.GetAsync()).Select(s => s.OldestUnacknowledgedAsync()));
            var oldest = oldestPerShard.Where(o => o is not null).Min();
            Volatile.Write(ref _ledgerLag, oldest is { } o ? Math.Max(0, (now - o).TotalSeconds) : 0);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogSampleFailed(_logger, "redis", e.GetType().Name);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await SampleAsync(stoppingToken);
            await Task.Delay(Period, _time, stoppingToken);
        }
    }

    [LoggerMessage(EventId = 1911, Level = LogLevel.Debug, Message = "Gauge sampling from {Store} failed: {Error}")]
    private static partial void LogSampleFailed(ILogger logger, string store, string error);
}
